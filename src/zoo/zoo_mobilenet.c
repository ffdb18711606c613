/* MobileNetV2 (width 1.0) in torchvision's layout: inverted residual blocks of expand 1x1 ->
 * depthwise 3x3 (group conv) -> linear 1x1 projection, ReLU6 as Clip(0, 6), and a residual Add
 * where stride is 1 and channels are kept. */
#include <stdio.h>

#include "zoo/zoo_build.h"

/* As for ResNet: the projection's batch norm starts small where it feeds a residual Add. */
#define RESIDUAL_GAMMA 0.2f

/* conv -> bn [-> ReLU6] as torchvision's Conv2dNormActivation: m.0 (conv), m.1 (bn). With
   split names (cn, bn) for the projection, whose conv and bn are separate Sequential entries. */
static int conv_bn(kiln__zb *b, int x, const char *cn, const char *bn, int64_t cout, int64_t k,
                   int64_t stride, int64_t group, int relu6, float gamma) {
    x = kiln__zb_bn(b, kiln__zb_conv(b, x, cn, cout, k, stride, k / 2, group, 0), bn, 1e-5f,
                    gamma);
    return relu6 ? kiln__zb_relu6(b, x, NULL) : x;
}

static int conv_bn_act(kiln__zb *b, int x, const char *m, int64_t cout, int64_t k,
                       int64_t stride, int64_t group) {
    char cn[128], bn[128];
    snprintf(cn, sizeof cn, "%s.0", m);
    snprintf(bn, sizeof bn, "%s.1", m);
    return conv_bn(b, x, cn, bn, cout, k, stride, group, 1, 1.0f);
}

static int inverted_residual(kiln__zb *b, int x, int idx, int64_t oup, int64_t stride, int t) {
    const kiln_shape *xs = kiln__zb_shape(b, x);
    if (!xs) return -1;
    int64_t inp = xs->d[1], hidden = inp * t;
    int res = stride == 1 && inp == oup;
    char m[128], cn[128], bn[128];
    int y = x, j = 0; /* j: index in torchvision's block.conv Sequential */
    if (t != 1) {
        snprintf(m, sizeof m, "features.%d.conv.%d", idx, j++);
        y = conv_bn_act(b, y, m, hidden, 1, 1, 1);
    }
    snprintf(m, sizeof m, "features.%d.conv.%d", idx, j++);
    y = conv_bn_act(b, y, m, hidden, 3, stride, hidden);
    snprintf(cn, sizeof cn, "features.%d.conv.%d", idx, j++);
    snprintf(bn, sizeof bn, "features.%d.conv.%d", idx, j++);
    y = conv_bn(b, y, cn, bn, oup, 1, 1, 1, 0, res ? RESIDUAL_GAMMA : 1.0f);
    if (!res) return y;
    snprintf(m, sizeof m, "features.%d.add", idx);
    return kiln__zb_add(b, x, y, m);
}

int kiln__zoo_mobilenet_v2(kiln__zb *b, int x, int variant) {
    (void)variant;
    static const int settings[][4] = {/* t, c, n, s */
                                      {1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2},
                                      {6, 64, 4, 2},  {6, 96, 3, 1},  {6, 160, 3, 2},
                                      {6, 320, 1, 1}};
    x = conv_bn_act(b, x, "features.0", 32, 3, 2, 1);
    int idx = 1;
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        for (int r = 0; r < settings[i][2]; r++)
            x = inverted_residual(b, x, idx++, settings[i][1], r == 0 ? settings[i][3] : 1,
                                  settings[i][0]);
    char m[32];
    snprintf(m, sizeof m, "features.%d", idx);
    x = conv_bn_act(b, x, m, 1280, 1, 1, 1);
    x = kiln__zb_flatten(b, kiln__zb_gap(b, x, "avgpool"), "flatten");
    /* classifier.0 is Dropout(0.2): the identity in inference, left out as the exporter does. */
    return kiln__zb_linear(b, x, "classifier.1", 1000, 1.0);
}
