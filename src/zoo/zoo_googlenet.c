/* GoogLeNet (Inception v1) as torchvision builds it for inference: aux_logits=False,
 * transform_input=False. Every conv is torchvision's BasicConv2d (conv without bias, batch norm
 * with eps 0.001, ReLU); branch 3 uses a 3x3 conv where the paper has 5x5 (torchvision's known
 * deviation, kept for compatibility); the max pools use ceil_mode. */
#include <stdio.h>

#include "zoo/zoo_build.h"

/* torchvision's BasicConv2d: m.conv, m.bn, then ReLU. */
static int basic_conv(kiln__zb *b, int x, const char *m, int64_t cout, int64_t k, int64_t stride,
                      int64_t pad) {
    char cn[128], bn[128];
    snprintf(cn, sizeof cn, "%s.conv", m);
    snprintf(bn, sizeof bn, "%s.bn", m);
    int y = kiln__zb_bn(b, kiln__zb_conv(b, x, cn, cout, k, stride, pad, 1, 0), bn, 1e-3f, 1.0f);
    return kiln__zb_relu(b, y, NULL);
}

typedef struct {
    const char *name;
    int64_t ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj;
} inception_cfg;

static int inception(kiln__zb *b, int x, const inception_cfg *c) {
    char m[128], m2[128];
    int br[4];
    snprintf(m, sizeof m, "%s.branch1", c->name);
    br[0] = basic_conv(b, x, m, c->ch1x1, 1, 1, 0);
    snprintf(m, sizeof m, "%s.branch2.0", c->name);
    snprintf(m2, sizeof m2, "%s.branch2.1", c->name);
    br[1] = basic_conv(b, basic_conv(b, x, m, c->ch3x3red, 1, 1, 0), m2, c->ch3x3, 3, 1, 1);
    snprintf(m, sizeof m, "%s.branch3.0", c->name);
    snprintf(m2, sizeof m2, "%s.branch3.1", c->name);
    br[2] = basic_conv(b, basic_conv(b, x, m, c->ch5x5red, 1, 1, 0), m2, c->ch5x5, 3, 1, 1);
    snprintf(m, sizeof m, "%s.branch4.0", c->name);
    snprintf(m2, sizeof m2, "%s.branch4.1", c->name);
    br[3] = basic_conv(b, kiln__zb_maxpool(b, x, m, 3, 1, 1, 1), m2, c->pool_proj, 1, 1, 0);
    snprintf(m, sizeof m, "%s.cat", c->name);
    return kiln__zb_concat(b, br, 4, m);
}

static const inception_cfg blocks[] = {
    {"inception3a", 64, 96, 128, 16, 32, 32},    {"inception3b", 128, 128, 192, 32, 96, 64},
    {"inception4a", 192, 96, 208, 16, 48, 64},   {"inception4b", 160, 112, 224, 24, 64, 64},
    {"inception4c", 128, 128, 256, 24, 64, 64},  {"inception4d", 112, 144, 288, 32, 64, 64},
    {"inception4e", 256, 160, 320, 32, 128, 128}, {"inception5a", 256, 160, 320, 32, 128, 128},
    {"inception5b", 384, 192, 384, 48, 128, 128},
};

int kiln__zoo_googlenet(kiln__zb *b, int x, int variant) {
    (void)variant;
    x = basic_conv(b, x, "conv1", 64, 7, 2, 3);
    x = kiln__zb_maxpool(b, x, "maxpool1", 3, 2, 0, 1);
    x = basic_conv(b, x, "conv2", 64, 1, 1, 0);
    x = basic_conv(b, x, "conv3", 192, 3, 1, 1);
    x = kiln__zb_maxpool(b, x, "maxpool2", 3, 2, 0, 1);
    x = inception(b, x, &blocks[0]);
    x = inception(b, x, &blocks[1]);
    x = kiln__zb_maxpool(b, x, "maxpool3", 3, 2, 0, 1);
    for (int i = 2; i < 7; i++) x = inception(b, x, &blocks[i]);
    x = kiln__zb_maxpool(b, x, "maxpool4", 2, 2, 0, 1);
    x = inception(b, x, &blocks[7]);
    x = inception(b, x, &blocks[8]);
    /* Dropout(0.2) is the identity in inference; the exporter leaves it out, and so does kiln. */
    x = kiln__zb_flatten(b, kiln__zb_gap(b, x, "avgpool"), "flatten");
    return kiln__zb_linear(b, x, "fc", 1000, 1.0);
}
