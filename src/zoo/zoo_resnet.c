/* ResNet-18/34/50/101/152 in torchvision's layout (v1.5: the stride sits on the 3x3 conv of a
 * bottleneck). Batch norm stays a separate node after every conv, as an eval-mode export without
 * folding would give, so the optimizer has the folding to do. */
#include <stdio.h>

#include "zoo/zoo_build.h"

/* The batch norm closing a residual branch starts small, so the sum of 50 blocks stays
   well-scaled (the idea of torchvision's zero_init_residual, without zeroing the branch). */
#define RESIDUAL_GAMMA 0.2f

typedef struct {
    int depth, bottleneck;
    int blocks[4];
} resnet_cfg;

static const resnet_cfg cfgs[] = {
    {18, 0, {2, 2, 2, 2}},  {34, 0, {3, 4, 6, 3}},  {50, 1, {3, 4, 6, 3}},
    {101, 1, {3, 4, 23, 3}}, {152, 1, {3, 8, 36, 3}},
};

/* conv -> bn [-> relu] named p.convI / p.bnI. */
static int conv_bn(kiln__zb *b, int x, const char *p, int i, int64_t cout, int64_t k,
                   int64_t stride, int relu, float gamma) {
    char cn[128], bn[128];
    snprintf(cn, sizeof cn, "%s.conv%d", p, i);
    snprintf(bn, sizeof bn, "%s.bn%d", p, i);
    int y = kiln__zb_bn(b, kiln__zb_conv(b, x, cn, cout, k, stride, k / 2, 1, 0), bn, 1e-5f, gamma);
    return relu ? kiln__zb_relu(b, y, NULL) : y;
}

static int block(kiln__zb *b, int x, const char *p, int bottleneck, int64_t planes,
                 int64_t stride) {
    const kiln_shape *xs = kiln__zb_shape(b, x);
    if (!xs) return -1;
    int64_t cin = xs->d[1], cout = bottleneck ? planes * 4 : planes;
    int y;
    if (bottleneck) {
        y = conv_bn(b, x, p, 1, planes, 1, 1, 1, 1.0f);
        y = conv_bn(b, y, p, 2, planes, 3, stride, 1, 1.0f);
        y = conv_bn(b, y, p, 3, cout, 1, 1, 0, RESIDUAL_GAMMA);
    } else {
        y = conv_bn(b, x, p, 1, planes, 3, stride, 1, 1.0f);
        y = conv_bn(b, y, p, 2, planes, 3, 1, 0, RESIDUAL_GAMMA);
    }
    int id = x;
    if (stride != 1 || cin != cout) {
        char cn[128], bn[128];
        snprintf(cn, sizeof cn, "%s.downsample.0", p);
        snprintf(bn, sizeof bn, "%s.downsample.1", p);
        id = kiln__zb_bn(b, kiln__zb_conv(b, x, cn, cout, 1, stride, 0, 1, 0), bn, 1e-5f, 1.0f);
    }
    char an[128];
    snprintf(an, sizeof an, "%s.add", p);
    return kiln__zb_relu(b, kiln__zb_add(b, y, id, an), NULL);
}

int kiln__zoo_resnet(kiln__zb *b, int x, int depth) {
    const resnet_cfg *c = NULL;
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        if (cfgs[i].depth == depth) c = &cfgs[i];
    if (!c) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "no such ResNet depth");
    x = kiln__zb_bn(b, kiln__zb_conv(b, x, "conv1", 64, 7, 2, 3, 1, 0), "bn1", 1e-5f, 1.0f);
    x = kiln__zb_maxpool(b, kiln__zb_relu(b, x, "relu"), "maxpool", 3, 2, 1, 0);
    for (int l = 0; l < 4; l++) {
        for (int i = 0; i < c->blocks[l]; i++) {
            char p[64];
            snprintf(p, sizeof p, "layer%d.%d", l + 1, i);
            x = block(b, x, p, c->bottleneck, (int64_t)64 << l, (i == 0 && l > 0) ? 2 : 1);
        }
    }
    x = kiln__zb_flatten(b, kiln__zb_gap(b, x, "avgpool"), "flatten");
    return kiln__zb_linear(b, x, "fc", 1000, 1.0);
}
