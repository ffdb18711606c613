#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

const char *peers_dir(void) {
    const char *d = getenv("KILN_PEERS_DIR");
    return d && *d ? d : KILN_SOURCE_DIR "/bench/peers";
}

/* Run cmd (through sh), collect stdout into out (at most n-1 bytes); return the exit code. */
static int run_capture(const char *cmd, char *out, size_t n) {
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t k = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (k + 1 < n) out[k++] = (char)c;
    out[k] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *peers_python(char *why, size_t nwhy) {
    static char found[512];
    static int done;
    if (done) return found[0] ? found : NULL;
    done = 1;
    const char *env = getenv("KILN_PYTHON");
    const char *cands[] = {env, "python3", "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i] || !*cands[i]) continue;
        char cmd[700], out[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch, torchvision' 2>/dev/null", cands[i]);
        if (run_capture(cmd, out, sizeof out) == 0) {
            snprintf(found, sizeof found, "%s", cands[i]);
            return found;
        }
    }
    snprintf(why, nwhy, "no python3 with torch and torchvision (install python3-torch "
                        "python3-torchvision, or set KILN_PYTHON)");
    return NULL;
}

static const char *json_find(const char *s, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p) return NULL;
    p = strchr(p + strlen(pat), ':');
    if (!p) return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static double json_num(const char *s, const char *key, double def) {
    const char *p = json_find(s, key);
    return p ? strtod(p, NULL) : def;
}

static void json_str(const char *s, const char *key, char *dst, size_t n) {
    const char *p = json_find(s, key);
    if (!p || *p != '"') return;
    p++;
    size_t k = 0;
    while (*p && *p != '"' && k + 1 < n) {
        if (*p == '\\' && p[1]) p++;
        dst[k++] = *p++;
    }
    dst[k] = 0;
}

int peers_parse_line(const char *line, peer_row *row) {
    json_str(line, "framework", row->framework, sizeof row->framework);
    json_str(line, "version", row->version, sizeof row->version);
    json_str(line, "mode", row->mode, sizeof row->mode);
    json_str(line, "precision", row->precision, sizeof row->precision);
    json_str(line, "device", row->device, sizeof row->device);
    row->batch = (int64_t)json_num(line, "batch", (double)row->batch);
    if (json_find(line, "error")) {
        json_str(line, "error", row->error, sizeof row->error);
        row->ok = 0;
        return -1;
    }
    const char *lat = json_find(line, "latency_ms");
    if (!lat) {
        snprintf(row->error, sizeof row->error, "unreadable peer output");
        row->ok = 0;
        return -1;
    }
    row->median = row->p50 = json_num(lat, "median", 0);
    row->p99 = json_num(lat, "p99", 0);
    row->throughput = json_num(line, "throughput", 0);
    row->runs = (size_t)json_num(line, "runs", 0);
    row->peak_mem_mib = json_num(line, "peak_mem_mib", 0);
    row->ok = row->median > 0;
    return row->ok ? 0 : -1;
}

static void missing(peer_row *r, const char *fw, int64_t batch, const char *why) {
    memset(r, 0, sizeof *r);
    snprintf(r->framework, sizeof r->framework, "%s", fw);
    snprintf(r->error, sizeof r->error, "%s", why);
    r->batch = batch;
}

int peers_torch(const char *arch, const char *device, const char *modes, int64_t batch,
                int64_t input_size, int threads, double duration, peer_row *rows, int max) {
    char why[256];
    const char *py = peers_python(why, sizeof why);
    if (!py) {
        missing(&rows[0], "pytorch", batch, why);
        return 1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s %s/torch_peer.py --model %s --device %s --batch %lld --input-size %lld "
             "--threads %d --duration %g%s%s 2>/dev/null",
             py, peers_dir(), arch, device, (long long)batch, (long long)input_size, threads,
             duration,
             modes ? " --modes " : "", modes ? modes : "");
    static char out[1 << 16];
    int rc = run_capture(cmd, out, sizeof out);
    int n = 0;
    for (char *line = strtok(out, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        if (line[0] != '{') continue;
        memset(&rows[n], 0, sizeof rows[n]);
        rows[n].batch = batch;
        peers_parse_line(line, &rows[n]);
        n++;
    }
    if (n == 0) {
        snprintf(why, sizeof why, "bench/peers/torch_peer.py failed (exit %d)", rc);
        missing(&rows[0], "pytorch", batch, why);
        return 1;
    }
    return n;
}

int peers_export_onnx(const char *arch, int64_t input_size, const char *path, char *why,
                      size_t nwhy) {
    const char *py = peers_python(why, nwhy);
    if (!py) return -1;
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd,
             "%s %s/torch_peer.py --model %s --input-size %lld --export '%s' 2>&1", py,
             peers_dir(), arch, (long long)input_size, path);
    if (run_capture(cmd, out, sizeof out) != 0) {
        snprintf(why, nwhy, "exporting %s to ONNX with PyTorch failed", arch);
        return -1;
    }
    return 0;
}

void peers_ort(const char *onnx, int64_t batch, int threads, double duration, peer_row *row) {
    char mod[1024];
    snprintf(mod, sizeof mod, "%s/node_modules/onnxruntime-node/package.json", peers_dir());
    if (access(mod, R_OK) != 0) {
        missing(row, "onnxruntime", batch,
                "onnxruntime-node is not installed (scripts/setup.sh installs it)");
        return;
    }
    char out[8192], cmd[2048], probe[64];
    if (run_capture("node --version 2>/dev/null", probe, sizeof probe) != 0) {
        missing(row, "onnxruntime", batch, "node (Node.js) is not installed");
        return;
    }
    snprintf(cmd, sizeof cmd, "node %s/ort_peer.js '%s' --batch %lld --threads %d --duration %g 2>/dev/null",
             peers_dir(), onnx, (long long)batch, threads, duration);
    int rc = run_capture(cmd, out, sizeof out);
    memset(row, 0, sizeof *row);
    row->batch = batch;
    char *line = strchr(out, '{');
    if (!line) {
        char why[128];
        snprintf(why, sizeof why, "bench/peers/ort_peer.js failed (exit %d)", rc);
        missing(row, "onnxruntime", batch, why);
        return;
    }
    peers_parse_line(line, row);
    if (!row->framework[0]) snprintf(row->framework, sizeof row->framework, "onnxruntime");
}
