/* peers.h — the frameworks kiln is compared with, run as separate processes that print JSON:
 * PyTorch (bench/peers/torch_peer.py) and ONNX Runtime (bench/peers/ort_peer.js). A peer that
 * cannot run is reported with the reason, never silently skipped. */
#ifndef KILN_CLI_PEERS_H
#define KILN_CLI_PEERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct peer_row {
    char framework[32];  /* "pytorch", "onnxruntime", "kiln" */
    char version[32];
    char mode[32];       /* "fp32", "fp16-graph", ... */
    char precision[16];
    char device[96];
    int64_t batch;
    size_t runs;
    double median, p50, p99, throughput; /* ms, ms, ms, samples/s */
    double peak_mem_mib;                 /* 0 when unknown */
    int ok;
    char error[256];     /* why the row has no figures */
} peer_row;

/* Where the peer scripts live: $KILN_PEERS_DIR, else the source tree's bench/peers. */
const char *peers_dir(void);
/* A Python that imports torch and torchvision ($KILN_PYTHON, python3 on PATH, /usr/bin/python3),
   or NULL with the reason in why. */
const char *peers_python(char *why, size_t nwhy);
/* Run the PyTorch peer for a torchvision architecture; fills up to max rows, returns the count
   (>= 1; a single row with ok = 0 carries the reason when the peer is missing or failed). */
int peers_torch(const char *arch, const char *device, const char *modes, int64_t batch,
                int64_t input_size, int threads, double duration, peer_row *rows, int max);
/* Export a torchvision architecture to ONNX through the PyTorch peer; 0 on success. */
int peers_export_onnx(const char *arch, int64_t input_size, const char *path, char *why, size_t nwhy);
/* Run the ONNX Runtime peer (CPU) on an ONNX file; fills one row. */
void peers_ort(const char *onnx, int64_t batch, int threads, double duration, peer_row *row);
/* Parse one JSON line of a peer into row; 0 when it holds figures. */
int peers_parse_line(const char *line, peer_row *row);

#endif
