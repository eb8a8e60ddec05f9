// test_h5_direct.c: the capture writer's direct chunk path (io/h5util.h ms_h5_fletcher32,
// ms_h5_write_chunk_checksummed) against libhdf5 itself: the checksum equals libhdf5's own
// H5_checksum_fletcher32 (exported by the library, not in its public headers) on random, all-0xff
// (the sums' overflow and folding edge) and odd-length buffers of every length around the 360-word
// block; and chunks written directly read back through HDF5's Fletcher-32 filter (which verifies
// the stored checksum) with the values written.
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "io/h5util.h"

uint32_t H5_checksum_fletcher32(const void *data, size_t len); // libhdf5's, the reference

static void checksum_matches_libhdf5(void) {
    uint64_t x = 88172645463325252ull;
    uint8_t *buf = malloc(1 << 16);
    const size_t lens[] = {0, 1, 2, 3, 718, 719, 720, 721, 722, 1439, 1440, 1441, 4096, 65535, 65536};
    for (int fill = 0; fill < 3; fill++)
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            for (size_t i = 0; i < lens[k]; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                buf[i] = fill == 0 ? (uint8_t)x : fill == 1 ? 0xff : (uint8_t)(i % 3 ? 0xff : x);
            }
            CHECK(ms_h5_fletcher32(buf, lens[k]) == H5_checksum_fletcher32(buf, lens[k]), "fill %d, %zu bytes: %08x vs %08x",
                  fill, lens[k], ms_h5_fletcher32(buf, lens[k]), H5_checksum_fletcher32(buf, lens[k]));
        }
    free(buf);
}

static void direct_chunks_read_back(void) {
    const char *dir = getenv("MONOSCOPE_TMP") ? getenv("MONOSCOPE_TMP") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/direct.h5", dir);
    enum { ROWS = 6, CR = 2, T = 5, C = 7 };
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {ROWS, T, C}, chunk[3] = {CR, T, C};
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_fletcher32(dcpl);
    hid_t ds = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    float data[ROWS][T][C];
    for (int r = 0; r < ROWS; r++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) data[r][t][c] = (float)(r * 100 + t * 10 + c) - 0.25f;
    // written where they lie: the chunks of one buffer followed by 4 spare bytes, which hold each
    // chunk's checksum during its write and must come back as they were
    uint8_t *buf = malloc(sizeof data + 4);
    memcpy(buf, data, sizeof data);
    memcpy(buf + sizeof data, "\x5a\xa5\x3c\xc3", 4);
    for (int r = 0; r < ROWS; r += CR) {
        hsize_t off[3] = {(hsize_t)r, 0, 0};
        CHECK(ms_h5_write_chunk_checksummed(ds, off, buf + r * sizeof data[0], CR * sizeof data[0]) == 0, "chunk at row %d", r);
    }
    CHECK(memcmp(buf, data, sizeof data) == 0 && memcmp(buf + sizeof data, "\x5a\xa5\x3c\xc3", 4) == 0,
          "the buffer and its spare bytes restored after the writes");
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    float back[ROWS][T][C];
    memset(back, 0, sizeof back);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds = H5Dopen2(f, "x", H5P_DEFAULT);
    CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0, "read through the Fletcher-32 filter");
    CHECK(memcmp(back, data, sizeof data) == 0, "values read back");
    H5Dclose(ds);
    H5Fclose(f);
    // a flipped byte in a stored chunk must fail the filter's check (the checksum is really verified)
    FILE *fp = fopen(path, "r+b");
    long at = -1;
    uint8_t *file = malloc(1 << 16);
    size_t n = fread(file, 1, 1 << 16, fp);
    for (size_t i = 0; i + sizeof(float) <= n && at < 0; i++)
        if (!memcmp(file + i, &data[2][0][0], sizeof(float))) at = (long)i;
    CHECK(at >= 0, "chunk of row 2 found in the file");
    if (at >= 0) {
        fseek(fp, at, SEEK_SET);
        fputc(file[at] ^ 0x40, fp);
    }
    fclose(fp);
    free(file);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ds = H5Dopen2(f, "x", H5P_DEFAULT);
    CHECK(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) < 0, "a damaged chunk fails its checksum");
    H5Dclose(ds);
    H5Fclose(f);
    free(buf);
    remove(path);
}

int main(void) {
    checksum_matches_libhdf5();
    direct_chunks_read_back();
    return ms_test_summary("test_h5_direct");
}
