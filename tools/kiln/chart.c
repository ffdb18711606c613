#include "chart.h"

#include <stdio.h>

static void xml_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

int chart_write_svg(const char *path, const char *title, const peer_row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    double maxv = 0;
    for (int i = 0; i < n; i++)
        if (rows[i].ok && rows[i].throughput > maxv) maxv = rows[i].throughput;
    if (maxv <= 0) maxv = 1;
    const int label_w = 260, bar_w = 420, row_h = 28, top = 50;
    int h = top + n * row_h + 40, w = label_w + bar_w + 140;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n", w, h, w, h);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">");
    xml_escape(f, title);
    fprintf(f, "</text>\n<text x=\"10\" y=\"42\" fill=\"#555\">throughput, samples/s "
               "(higher is better)</text>\n");
    for (int i = 0; i < n; i++) {
        const peer_row *r = &rows[i];
        int y = top + i * row_h;
        char label[160];
        snprintf(label, sizeof label, "%s %s", r->framework, r->mode[0] ? r->mode : r->precision);
        fprintf(f, "<text x=\"10\" y=\"%d\">", y + 18);
        xml_escape(f, label);
        fprintf(f, "</text>\n");
        if (!r->ok) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#a00\">missing: ", label_w, y + 18);
            xml_escape(f, r->error);
            fprintf(f, "</text>\n");
            continue;
        }
        int bw = (int)(r->throughput / maxv * bar_w);
        if (bw < 1) bw = 1;
        const char *color = r->framework[0] == 'k' ? "#d9480f" : "#4263eb";
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n", label_w,
                y + 4, bw, row_h - 8, color);
        fprintf(f, "<text x=\"%d\" y=\"%d\">%.1f</text>\n", label_w + bw + 6, y + 18,
                r->throughput);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
