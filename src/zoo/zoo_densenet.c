/* DenseNet-121 (growth 32, bn_size 4, blocks 6/12/24/16, 64 initial features) in torchvision's
 * layout. Each dense layer concatenates all earlier features of its block (as the exporter writes
 * it: one Concat per layer, none for a block's first layer, whose input is a single tensor) and
 * runs BN-ReLU-conv1x1-BN-ReLU-conv3x3; transitions halve channels and resolution. */
#include <stdio.h>

#include "zoo/zoo_build.h"

#define GROWTH 32
#define BN_SIZE 4
#define MAX_LAYERS 64

typedef struct {
    int depth;
    int64_t init_features;
    int blocks[4];
} densenet_cfg;

static const densenet_cfg cfgs[] = {{121, 64, {6, 12, 24, 16}}};

/* norm (+ ReLU) + conv without bias, named p.normI / p.convI (I may be empty). */
static int bn_relu_conv(kiln__zb *b, int x, const char *p, const char *i, int64_t cout,
                        int64_t k) {
    char nn[160], cn[160];
    snprintf(nn, sizeof nn, "%s.norm%s", p, i);
    snprintf(cn, sizeof cn, "%s.conv%s", p, i);
    x = kiln__zb_relu(b, kiln__zb_bn(b, x, nn, 1e-5f, 1.0f), NULL);
    return kiln__zb_conv(b, x, cn, cout, k, 1, k / 2, 1, 0);
}

static int dense_block(kiln__zb *b, int x, int bi, int nlayers) {
    int feats[MAX_LAYERS + 1];
    if (nlayers > MAX_LAYERS) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "dense block too deep");
    feats[0] = x;
    for (int l = 0; l < nlayers; l++) {
        char p[128], cat[140];
        snprintf(p, sizeof p, "features.denseblock%d.denselayer%d", bi, l + 1);
        snprintf(cat, sizeof cat, "%s.cat", p);
        int in = l == 0 ? feats[0] : kiln__zb_concat(b, feats, l + 1, cat);
        int y = bn_relu_conv(b, in, p, "1", BN_SIZE * GROWTH, 1);
        feats[l + 1] = bn_relu_conv(b, y, p, "2", GROWTH, 3);
    }
    char cat[64];
    snprintf(cat, sizeof cat, "features.denseblock%d.cat", bi);
    return kiln__zb_concat(b, feats, nlayers + 1, cat);
}

int kiln__zoo_densenet(kiln__zb *b, int x, int depth) {
    const densenet_cfg *c = NULL;
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        if (cfgs[i].depth == depth) c = &cfgs[i];
    if (!c) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "no such DenseNet depth");
    x = kiln__zb_conv(b, x, "features.conv0", c->init_features, 7, 2, 3, 1, 0);
    x = kiln__zb_relu(b, kiln__zb_bn(b, x, "features.norm0", 1e-5f, 1.0f), "features.relu0");
    x = kiln__zb_maxpool(b, x, "features.pool0", 3, 2, 1, 0);
    for (int i = 0; i < 4; i++) {
        x = dense_block(b, x, i + 1, c->blocks[i]);
        if (i == 3) break;
        const kiln_shape *s = kiln__zb_shape(b, x);
        if (!s) return -1;
        char p[64], pn[80];
        snprintf(p, sizeof p, "features.transition%d", i + 1);
        snprintf(pn, sizeof pn, "%s.pool", p);
        x = kiln__zb_avgpool(b, bn_relu_conv(b, x, p, "", s->d[1] / 2, 1), pn, 2, 2);
    }
    /* torchvision: features end with norm5, then F.relu, adaptive_avg_pool2d((1, 1)), flatten. */
    x = kiln__zb_relu(b, kiln__zb_bn(b, x, "features.norm5", 1e-5f, 1.0f), NULL);
    x = kiln__zb_flatten(b, kiln__zb_gap(b, x, "avgpool"), "flatten");
    return kiln__zb_linear(b, x, "classifier", 1000, 1.0);
}
