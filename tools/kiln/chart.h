/* chart.h — a horizontal bar chart of throughput as a standalone SVG file. */
#ifndef KILN_CLI_CHART_H
#define KILN_CLI_CHART_H

#include "peers.h"

/* Rows without figures are drawn as "missing". Returns 0 on success. */
int chart_write_svg(const char *path, const char *title, const peer_row *rows, int n);

#endif
