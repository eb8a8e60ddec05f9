// ckpt.h: training checkpoints, HDF5 files written atomically (temp + fsync + rename, so a kill
// at any moment leaves the previous checkpoint or the new one, never a torn file). The root holds
// the step, the data stream position and a fingerprint of everything that determines the result;
// a resume refuses a checkpoint of other settings. Checksummed (ms_h5_atomic_begin_checksummed): a
// damaged checkpoint is refused, never resumed into different numbers. The trainer adds its groups (ms_params_write,
// ms_train_log_write, its own state) between begin and end.
#ifndef MS_TRAIN_CKPT_H
#define MS_TRAIN_CKPT_H
#include <hdf5.h>
#include <stdint.h>
#include "io/h5util.h"

typedef struct {
    ms_h5_atomic out; // the temp file being written, renamed over the path at the end
    hid_t file;       // = out.f, where the caller writes
} ms_ckpt;

// Creates the temp file with the root attributes. -1 + ms_error.
int ms_ckpt_begin(ms_ckpt *c, const char *path, int64_t step, int64_t stream_pos, const char *fingerprint);
// Closes the temp file and renames it over path; ok == 0 (something failed in between): removes it
// instead and reports "<path>: write failed (disk full?)". Returns 0 / -1.
int ms_ckpt_end(ms_ckpt *c, int ok);

// Opens path for reading after checking its fingerprint. Returns the file (close with ms_ckpt_close) or
// -1 + ms_error.
hid_t ms_ckpt_open(const char *path, const char *fingerprint, int64_t *step, int64_t *stream_pos);

// The group "<prefix><index>" of a checkpoint file (e.g. "site0": one per trained unit), created
// (create != 0, between begin and end) or opened for reading. Returns it or -1.
hid_t ms_ckpt_group(hid_t file, const char *prefix, int index, int create);
// Reports a checkpoint whose contents failed to read (a checksum, a missing object) as
// "<path>: damaged checkpoint (<the reader's error>); delete it to start over". Returns -1.
int ms_ckpt_damaged(const char *path);
// Closes a group from ms_ckpt_group or a file from ms_ckpt_open.
void ms_ckpt_close(hid_t id);

// Scalar attributes of a checkpoint group are read with io/h5util.h's typed readers.

#endif
