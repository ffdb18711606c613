/* dataset.h — labelled samples for accuracy runs and calibration.
 *
 * Specs (the CLI's DATASET):
 *   fashion-mnist[:DIR]        the 10000 test images of Fashion-MNIST (gzip idx files, default
 *                              DIR /usr/share/datasets/fashion-mnist, Debian's
 *                              dataset-fashion-mnist); samples 1x28x28 float32 = pixel / 255
 *   npy:INPUTS.npy:LABELS.npy  N x ... float32 inputs and N integer labels
 *   imagenet:DIR:VAL_MAP       MLPerf's val_map.txt ("ILSVRC2012_val_00000001.JPEG 65" lines),
 *                              each image pre-processed to DIR/<name without extension>.npy
 *                              (3x224x224 float32), read when loaded
 */
#ifndef KILN_IO_DATASET_H
#define KILN_IO_DATASET_H

#include <stdint.h>

#include "core/err.h"
#include "kiln.h"

typedef struct kiln_dataset kiln_dataset;

kiln_status kiln_dataset_open(const char *spec, kiln_dataset **out, kiln_err *e);
void kiln_dataset_close(kiln_dataset *d);
int64_t kiln_dataset_count(const kiln_dataset *d);
/* Shape of one sample (no batch dimension); returns ndim. */
int kiln_dataset_sample_shape(const kiln_dataset *d, int64_t *dims);
int64_t kiln_dataset_sample_numel(const kiln_dataset *d);
/* Copy sample i (float32) to dst, which holds kiln_dataset_sample_numel floats. */
kiln_status kiln_dataset_load(kiln_dataset *d, int64_t i, float *dst, kiln_err *e);
int64_t kiln_dataset_label(const kiln_dataset *d, int64_t i);
/* "fashion-mnist (10000 samples)" */
const char *kiln_dataset_name(const kiln_dataset *d);

/* Read a gzip'ed (or plain) idx file: magic 0x00000801/0x00000803 for uint8 vectors/images. */
kiln_status kiln_idx_read(const char *path, uint8_t **data, int *ndim, int64_t *dims, kiln_err *e);

#endif
