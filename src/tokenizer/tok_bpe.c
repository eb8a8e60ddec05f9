// tok_bpe.c: the merge engine shared by both families. A word is a doubly linked list of symbols
// (token ids); candidate merges of adjacent symbols sit in a binary heap ordered by priority, ties
// going to the leftmost pair. Popping the best valid candidate and merging it is exactly "rescan
// all pairs, merge the best" (llama2.c's encode, HF's BPE::merge_word, tiktoken) but O(n log n),
// so a 1 MB run of digits or spaces does not go quadratic.
//   TOK_MERGE_RANK:  priority = merge rank of the id pair (lower first), from the merges list.
//   TOK_MERGE_SCORE: priority = score of the vocab piece spelled by the two pieces concatenated
//                    (higher first, only if > -1e10: llama2.c's exact rule).
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

typedef struct { double key; int32_t pos, left, right, merged; } cand;

struct tok_bpe_work {
    int32_t *prev, *next;
    size_t cap;
    cand *heap;
    size_t nheap, capheap;
    char *buf;       // score mode: concatenation of two pieces
    size_t capbuf;
};

tok_bpe_work *tok_bpe_work_new(void) { return ms_calloc(1, sizeof(tok_bpe_work)); }
void tok_bpe_work_free(tok_bpe_work *w) {
    if (!w) return;
    free(w->prev); free(w->next); free(w->heap); free(w->buf); free(w);
}

static inline int cand_less(const cand *a, const cand *b) {
    return a->key < b->key || (a->key == b->key && a->pos < b->pos);
}

static void heap_push(tok_bpe_work *w, cand c) {
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? w->capheap * 2 : 64;
        w->heap = ms_realloc(w->heap, w->capheap * sizeof *w->heap);
    }
    size_t i = w->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = c;
}

static cand heap_pop(tok_bpe_work *w) {
    cand top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < n && cand_less(&w->heap[l], best)) { m = l; best = &w->heap[l]; }
        if (r < n && cand_less(&w->heap[r], best)) m = r;
        if (m == i) break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (n) w->heap[i] = last;
    return top;
}

// Pushes the candidate merge of the symbols at positions a and b (a's right neighbour), if any.
static void consider(const ms_tokenizer *t, tok_bpe_work *w, const int32_t *ids, int32_t a, int32_t b) {
    int32_t l = ids[a], r = ids[b], merged, rank;
    if (t->merge_mode == TOK_MERGE_RANK) {
        if (!tok_pairmap_get(&t->merges, l, r, &rank, &merged)) return;
        heap_push(w, (cand){(double)rank, a, l, r, merged});
        return;
    }
    size_t la = t->piece_len[l], lb = t->piece_len[r];
    if (!w->buf || la + lb > w->capbuf) { w->capbuf = (la + lb) * 2 + 16; w->buf = ms_realloc(w->buf, w->capbuf); } // empty pieces too: memcpy needs a buffer
    memcpy(w->buf, t->piece[l], la);
    memcpy(w->buf + la, t->piece[r], lb);
    merged = tok_strmap_get(&t->by_piece, w->buf, la + lb);
    if (merged < 0 || !(t->score[merged] > -1e10f)) return;
    heap_push(w, (cand){-(double)t->score[merged], a, l, r, merged});
}

size_t tok_bpe_merge(const ms_tokenizer *t, tok_bpe_work *w, int32_t *ids, size_t n) {
    if (n < 2) return n;
    if (n > w->cap) {
        w->cap = n * 2;
        w->prev = ms_realloc(w->prev, w->cap * sizeof *w->prev);
        w->next = ms_realloc(w->next, w->cap * sizeof *w->next);
    }
    int32_t *prev = w->prev, *next = w->next;
    for (size_t i = 0; i < n; i++) { prev[i] = (int32_t)i - 1; next[i] = i + 1 < n ? (int32_t)i + 1 : -1; }
    w->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++) consider(t, w, ids, (int32_t)i, (int32_t)i + 1);
    while (w->nheap) {
        cand c = heap_pop(w);
        int32_t a = c.pos, b = next[a];
        // stale: the left symbol was absorbed or grew, or its neighbour changed. A position's id
        // fixes its span (ids only grow by merging), so equal ids mean the same pair.
        if (ids[a] != c.left || b < 0 || ids[b] != c.right) continue;
        ids[a] = c.merged;
        ids[b] = -1; // dead
        next[a] = next[b];
        if (next[b] >= 0) prev[next[b]] = a;
        if (prev[a] >= 0) consider(t, w, ids, prev[a], a);
        if (next[a] >= 0) consider(t, w, ids, a, next[a]);
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[o++] = ids[i];
    return o;
}
