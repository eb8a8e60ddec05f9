// tok_maps.c: the two hash maps of the tokenizer. Open addressing with linear probing; the
// string map keeps its keys in one arena so a 150k-token vocabulary is a handful of allocations.
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tok_internal.h"
#include "util/util.h"

uint64_t tok_hash(const void *p, size_t n) { // FNV-1a, then a final mix so low bits spread
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ull; }
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33;
    return h;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t p = 16;
    while (p < n) p <<= 1;
    return p;
}

void tok_strmap_init(tok_strmap *m, uint32_t expect) {
    memset(m, 0, sizeof *m);
    m->n_slots = pow2_at_least((uint64_t)expect * 2 + 1);
    m->slot = ms_calloc(m->n_slots, sizeof *m->slot);
    m->cap_entries = expect > 8 ? expect : 8;
    m->hash = ms_malloc(m->cap_entries * sizeof *m->hash);
    m->off = ms_malloc(m->cap_entries * sizeof *m->off);
    m->len = ms_malloc(m->cap_entries * sizeof *m->len);
    m->val = ms_malloc(m->cap_entries * sizeof *m->val);
    m->keys_cap = 1024;
    m->keys = ms_malloc(m->keys_cap);
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slot); free(m->hash); free(m->off); free(m->len); free(m->val); free(m->keys);
    memset(m, 0, sizeof *m);
}

static void strmap_rehash(tok_strmap *m) {
    uint32_t ns = m->n_slots * 2;
    uint32_t *slot = ms_calloc(ns, sizeof *slot);
    for (uint32_t e = 0; e < m->n; e++) {
        uint32_t i = (uint32_t)m->hash[e] & (ns - 1);
        while (slot[i]) i = (i + 1) & (ns - 1);
        slot[i] = e + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->n_slots = ns;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    if (!m->slot) return -1;
    uint64_t h = tok_hash(key, len);
    uint32_t i = (uint32_t)h & (m->n_slots - 1);
    for (;;) {
        uint32_t e = m->slot[i];
        if (!e) return -1;
        e--;
        if (m->hash[e] == h && m->len[e] == len && !memcmp(m->keys + m->off[e], key, len)) return m->val[e];
        i = (i + 1) & (m->n_slots - 1);
    }
}

int32_t tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
    uint64_t h = tok_hash(key, len);
    uint32_t i = (uint32_t)h & (m->n_slots - 1);
    for (;;) {
        uint32_t e = m->slot[i];
        if (!e) break;
        e--;
        if (m->hash[e] == h && m->len[e] == len && !memcmp(m->keys + m->off[e], key, len)) {
            int32_t old = m->val[e];
            m->val[e] = val;
            return old;
        }
        i = (i + 1) & (m->n_slots - 1);
    }
    if (m->n == m->cap_entries) {
        m->cap_entries *= 2;
        m->hash = ms_realloc(m->hash, m->cap_entries * sizeof *m->hash);
        m->off = ms_realloc(m->off, m->cap_entries * sizeof *m->off);
        m->len = ms_realloc(m->len, m->cap_entries * sizeof *m->len);
        m->val = ms_realloc(m->val, m->cap_entries * sizeof *m->val);
    }
    while (m->keys_len + len + 1 > m->keys_cap) { m->keys_cap *= 2; m->keys = ms_realloc(m->keys, m->keys_cap); }
    if (len) memcpy(m->keys + m->keys_len, key, len);
    uint32_t e = m->n++;
    m->hash[e] = h;
    m->off[e] = (uint32_t)m->keys_len;
    m->len[e] = (uint32_t)len;
    m->val[e] = val;
    m->keys_len += len;
    m->slot[i] = e + 1;
    if ((uint64_t)m->n * 2 > m->n_slots) strmap_rehash(m);
    return -1;
}

void tok_pairmap_init(tok_pairmap *m, uint32_t expect) {
    m->n = 0;
    m->n_slots = pow2_at_least((uint64_t)expect * 2 + 1);
    m->key = ms_calloc(m->n_slots, sizeof *m->key);
    m->rank = ms_malloc(m->n_slots * sizeof *m->rank);
    m->merged = ms_malloc(m->n_slots * sizeof *m->merged);
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->key); free(m->rank); free(m->merged);
    memset(m, 0, sizeof *m);
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1; }
static inline uint32_t pair_slot(uint64_t k, uint32_t n_slots) {
    k ^= k >> 31; k *= 0x9e3779b97f4a7c15ull; k ^= k >> 29;
    return (uint32_t)k & (n_slots - 1);
}

void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    if ((uint64_t)(m->n + 1) * 2 > m->n_slots) { // grow
        tok_pairmap old = *m;
        tok_pairmap_init(m, old.n_slots);
        for (uint32_t i = 0; i < old.n_slots; i++) {
            if (!old.key[i]) continue;
            uint32_t j = pair_slot(old.key[i], m->n_slots);
            while (m->key[j]) j = (j + 1) & (m->n_slots - 1);
            m->key[j] = old.key[i]; m->rank[j] = old.rank[i]; m->merged[j] = old.merged[i];
            m->n++;
        }
        tok_pairmap_free(&old);
    }
    uint64_t k = pair_key(a, b);
    uint32_t i = pair_slot(k, m->n_slots);
    while (m->key[i]) {
        if (m->key[i] == k) return; // the first (lowest-rank) occurrence wins, as in HF
        i = (i + 1) & (m->n_slots - 1);
    }
    m->key[i] = k; m->rank[i] = rank; m->merged[i] = merged;
    m->n++;
}

int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    if (!m->key) return 0;
    uint64_t k = pair_key(a, b);
    uint32_t i = pair_slot(k, m->n_slots);
    while (m->key[i]) {
        if (m->key[i] == k) { *rank = m->rank[i]; *merged = m->merged[i]; return 1; }
        i = (i + 1) & (m->n_slots - 1);
    }
    return 0;
}
