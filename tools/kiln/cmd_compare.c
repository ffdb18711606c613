/* kiln compare — the main job: kiln in each precision its backend offers, side by side with
 * PyTorch and ONNX Runtime on the same model, batch and kind of input, in one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chart.h"
#include "cli.h"
#include "measure.h"
#include "peers.h"

#define MAX_ROWS 32

static void help(void) {
    printf("usage: kiln compare MODEL [options]\n\n"
           "Build and time kiln in every precision the backend offers, run the peers present\n"
           "(PyTorch; ONNX Runtime on the CPU) on the same model and batch, and print the table\n"
           "Framework | Precision | Batch | Time | Throughput | p50 / p99 latency | Speed-up vs\n"
           "PyTorch FP32. Peers run the same torchvision architecture for zoo models, the ONNX\n"
           "file itself otherwise (ONNX Runtime only). A peer that cannot run is reported.\n\n"
           "  --precisions LIST      e.g. fp32,fp16 (default: all the backend offers)\n"
           "  --batch N              batch size (default 1)\n"
           "  --backend cpu|cuda     kiln backend (default: cuda when a GPU is present, else cpu)\n"
           "  --peers LIST           torch,ort (default both; 'none' for kiln alone)\n"
           "  --duration SECONDS     measuring time per row (default 3)\n"
           "  --json FILE            write every figure as JSON\n"
           "  --chart FILE.svg       write a bar chart of throughput\n"
           "  --shape NAME=DIMS      fix symbolic input dimensions\n"
           "  --threads N            CPU threads (kiln and peers; default: one per core)\n"
           "  --quiet                no progress output\n");
}

static int model_arch(const char *model, char *arch, size_t n) {
    if (strncmp(model, "zoo:", 4)) return 0;
    snprintf(arch, n, "%s", model + 4);
    return 1;
}

static void print_table(const peer_row *rows, int n, double ref) {
    printf("\n%-12s | %-11s | %5s | %10s | %14s | %19s | %s\n", "Framework", "Precision", "Batch",
           "Time (ms)", "Throughput/s", "p50 / p99 (ms)", "Speed-up vs PyTorch FP32");
    printf("-------------+-------------+-------+------------+----------------+---------------------"
           "+-------------------------\n");
    for (int i = 0; i < n; i++) {
        const peer_row *r = &rows[i];
        const char *prec = r->mode[0] ? r->mode : r->precision;
        if (!r->ok) {
            printf("%-12s | %-11s | %5lld | missing: %s\n", r->framework, prec, (long long)r->batch,
                   r->error);
            continue;
        }
        char lat[64], sp[32] = "-";
        snprintf(lat, sizeof lat, "%.3f / %.3f", r->p50, r->p99);
        if (ref > 0) snprintf(sp, sizeof sp, "%.2fx", r->throughput / ref);
        printf("%-12s | %-11s | %5lld | %10.3f | %14.1f | %19s | %s\n", r->framework, prec,
               (long long)r->batch, r->median, r->throughput, lat, sp);
    }
}

static void write_json(const char *path, const char *model, const char *backend, int64_t batch,
                       const peer_row *rows, int n, double ref) {
    FILE *f = fopen(path, "w");
    if (!f) cli_die("--json: cannot write %s", path);
    fprintf(f, "{\n \"model\": \"%s\", \"backend\": \"%s\", \"batch\": %lld,\n ", model, backend,
            (long long)batch);
    cli_json_provenance(f);
    fprintf(f, ",\n \"rows\": [\n");
    for (int i = 0; i < n; i++) {
        const peer_row *r = &rows[i];
        fprintf(f, "  {\"framework\": \"%s\", \"version\": \"%s\", \"mode\": \"%s\", "
                   "\"precision\": \"%s\", \"device\": \"%s\", \"batch\": %lld",
                r->framework, r->version, r->mode, r->precision, r->device, (long long)r->batch);
        if (r->ok)
            fprintf(f, ", \"runs\": %zu, \"median_ms\": %.6f, \"p50_ms\": %.6f, \"p99_ms\": %.6f, "
                       "\"throughput\": %.6f, \"speedup_vs_pytorch_fp32\": %.6f",
                    r->runs, r->median, r->p50, r->p99, r->throughput,
                    ref > 0 ? r->throughput / ref : 0.0);
        else fprintf(f, ", \"missing\": \"%s\"", r->error);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, " ]\n}\n");
    if (fclose(f)) cli_die("--json: cannot write %s", path);
}

int cmd_compare(int argc, char **argv) {
    cli_build_opts o;
    cli_build_opts_init(&o);
    const char *precs = NULL, *peers = "torch,ort", *json = NULL, *chart = NULL, *v;
    double duration = 3;
    for (int i = 1; i < argc; i++) {
        if (cli_flag(argv, i, "--help") || cli_flag(argv, i, "-h")) {
            help();
            return 0;
        } else if (cli_opt(argc, argv, &i, "--precisions", &v)) {
            precs = v;
        } else if (cli_opt(argc, argv, &i, "--peers", &v)) {
            peers = v;
        } else if (cli_opt(argc, argv, &i, "--json", &v)) {
            json = v;
        } else if (cli_opt(argc, argv, &i, "--chart", &v)) {
            chart = v;
        } else if (cli_opt(argc, argv, &i, "--duration", &v)) {
            duration = cli_double("--duration", v);
        } else if (cli_build_opt(argc, argv, &i, &o)) {
        } else if (argv[i][0] == '-') {
            cli_usage_die("compare", "unknown option '%s'", argv[i]);
        } else if (!o.model) {
            o.model = argv[i];
        } else {
            cli_usage_die("compare", "more than one model given");
        }
    }
    if (!o.model) cli_usage_die("compare", "no model given");
    if (cli_is_plan(o.model)) cli_usage_die("compare", "compare takes a MODEL, not a plan");
    if (!o.batch) o.batch = 1;
    if (o.backend < 0)
        o.backend = kiln_backend_available(KILN_BACKEND_CUDA) ? KILN_BACKEND_CUDA : KILN_BACKEND_CPU;
    if (!precs) precs = o.backend == KILN_BACKEND_CUDA ? "fp32,tf32,fp16,bf16" : "fp32";
    int threads = o.threads ? o.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

    peer_row rows[MAX_ROWS];
    int n = 0;
    measure_opts mo = {.duration = duration, .min_iters = 10, .warmup = 3, .quiet = o.quiet};
    char plist[256];
    snprintf(plist, sizeof plist, "%s", precs);
    for (char *p = strtok(plist, ","); p && n < MAX_ROWS; p = strtok(NULL, ",")) {
        int prec = kiln_precision_parse(p);
        if (prec < 0) cli_die("--precisions: unknown precision '%s'", p);
        cli_build_opts bo = o;
        bo.precision = prec;
        char label[64];
        snprintf(label, sizeof label, "kiln %s", p);
        mo.label = label;
        if (!o.quiet) fprintf(stderr, "kiln: building and timing %s %s ...\n", o.model, p);
        kiln_engine *e = cli_engine(&bo);
        peer_row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        measure_result m;
        measure_engine(e, o.batch, &mo, &m);
        snprintf(r->framework, sizeof r->framework, "kiln");
        snprintf(r->version, sizeof r->version, "%s", kiln_version());
        snprintf(r->precision, sizeof r->precision, "%s", p);
        snprintf(r->device, sizeof r->device, "%s", kiln_backend_name((kiln_backend_kind)o.backend));
        r->batch = o.batch;
        r->runs = m.runs;
        r->median = m.median;
        r->p50 = m.p50;
        r->p99 = m.p99;
        r->throughput = m.throughput;
        r->ok = 1;
        kiln_engine_destroy(e);
    }

    char arch[64];
    int is_zoo = model_arch(o.model, arch, sizeof arch);
    int64_t size = 224;
    /* Input size for the peers: the model's own when fixed by --shape (e.g. input=1x3x160x160). */
    for (int i = 0; i < o.n_shapes; i++) {
        const char *x = strrchr(o.shapes[i], 'x');
        if (x) size = atoll(x + 1);
    }
    const char *device = o.backend == KILN_BACKEND_CUDA ? "cuda" : "cpu";
    if (strstr(peers, "torch") && n < MAX_ROWS) {
        if (!o.quiet) fprintf(stderr, "kiln: timing PyTorch ...\n");
        if (is_zoo) {
            n += peers_torch(arch, device, NULL, o.batch, size, threads, duration, &rows[n],
                             MAX_ROWS - n);
        } else {
            memset(&rows[n], 0, sizeof rows[n]);
            snprintf(rows[n].framework, sizeof rows[n].framework, "pytorch");
            snprintf(rows[n].error, sizeof rows[n].error,
                     "PyTorch runs zoo models only (it cannot load an ONNX file)");
            rows[n++].batch = o.batch;
        }
    }
    if (strstr(peers, "ort") && n < MAX_ROWS) {
        if (!o.quiet) fprintf(stderr, "kiln: timing ONNX Runtime ...\n");
        char onnx[512], why[256];
        int have = 1;
        char tmpdir[] = "/tmp/kiln-compare-XXXXXX";
        if (is_zoo) {
            if (!mkdtemp(tmpdir)) cli_die("cannot create a temporary directory");
            snprintf(onnx, sizeof onnx, "%s/%s.onnx", tmpdir, arch);
            if (peers_export_onnx(arch, size, onnx, why, sizeof why) != 0) {
                memset(&rows[n], 0, sizeof rows[n]);
                snprintf(rows[n].framework, sizeof rows[n].framework, "onnxruntime");
                snprintf(rows[n].error, sizeof rows[n].error, "%s", why);
                rows[n++].batch = o.batch;
                have = 0;
            }
        } else {
            snprintf(onnx, sizeof onnx, "%s", o.model);
        }
        if (have) peers_ort(onnx, o.batch, threads, duration, &rows[n++]);
        if (is_zoo) {
            unlink(onnx);
            rmdir(tmpdir);
        }
    }

    double ref = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].ok && !strcmp(rows[i].framework, "pytorch") && !strcmp(rows[i].mode, "fp32"))
            ref = rows[i].throughput;
    printf("model: %s  batch: %lld  kiln backend: %s\n", o.model, (long long)o.batch,
           kiln_backend_name((kiln_backend_kind)o.backend));
    print_table(rows, n, ref);
    if (ref <= 0) printf("\n(no PyTorch FP32 figure: speed-ups are not shown)\n");
    if (json) write_json(json, o.model, kiln_backend_name((kiln_backend_kind)o.backend), o.batch,
                         rows, n, ref);
    if (chart) {
        char title[256];
        snprintf(title, sizeof title, "%s, batch %lld", o.model, (long long)o.batch);
        if (chart_write_svg(chart, title, rows, n)) cli_die("--chart: cannot write %s", chart);
    }
    return 0;
}
