/* The plain convolution stacks: VGG-16 (configuration D, no batch norm) and AlexNet (torchvision's
 * one-GPU variant). Both end in an adaptive average pool (7x7, 6x6) that is the identity at
 * 224x224, where the features already have that size; the builder checks that and, as torchvision
 * export's constant-size pooling does nothing there, adds no node for it. Dropout is the identity
 * in inference and left out, as the exporter does. Names follow the Sequential indices
 * ("features.0", "classifier.6"). */
#include <stdio.h>

#include "zoo/zoo_build.h"

/* Check the adaptive pool to side x side is the identity here. */
static int adaptive_identity(kiln__zb *b, int x, int64_t side) {
    const kiln_shape *s = kiln__zb_shape(b, x);
    if (!s) return -1;
    if (s->d[2] != side || s->d[3] != side)
        return kiln__zb_fail(b, KILN_ERR_INTERNAL, "features do not match the adaptive pool");
    return x;
}

static int conv_relu(kiln__zb *b, int x, int idx, int64_t cout, int64_t k, int64_t stride,
                     int64_t pad) {
    char m[32];
    snprintf(m, sizeof m, "features.%d", idx);
    return kiln__zb_relu(b, kiln__zb_conv(b, x, m, cout, k, stride, pad, 1, 1), NULL);
}

static int maxpool(kiln__zb *b, int x, int idx, int64_t k, int64_t stride) {
    char m[32];
    snprintf(m, sizeof m, "features.%d", idx);
    return kiln__zb_maxpool(b, x, m, k, stride, 0, 0);
}

static int linear(kiln__zb *b, int x, int idx, int64_t nout, int relu) {
    char m[32];
    snprintf(m, sizeof m, "classifier.%d", idx);
    x = kiln__zb_linear(b, x, m, nout, relu ? 2.0 : 1.0);
    return relu ? kiln__zb_relu(b, x, NULL) : x;
}

int kiln__zoo_vgg(kiln__zb *b, int x, int depth) {
    /* Configuration D; 0 marks a max pool. */
    static const int cfg_d[] = {64,  64,  0,   128, 128, 0,   256, 256, 256,
                                0,   512, 512, 512, 0,   512, 512, 512, 0};
    if (depth != 16) return kiln__zb_fail(b, KILN_ERR_INTERNAL, "no such VGG depth");
    int idx = 0;
    for (size_t i = 0; i < sizeof cfg_d / sizeof cfg_d[0]; i++) {
        if (cfg_d[i]) {
            x = conv_relu(b, x, idx, cfg_d[i], 3, 1, 1);
            idx += 2;
        } else {
            x = maxpool(b, x, idx++, 2, 2);
        }
    }
    x = kiln__zb_flatten(b, adaptive_identity(b, x, 7), "flatten");
    x = linear(b, x, 0, 4096, 1);
    x = linear(b, x, 3, 4096, 1);
    return linear(b, x, 6, 1000, 0);
}

int kiln__zoo_alexnet(kiln__zb *b, int x, int variant) {
    (void)variant;
    x = maxpool(b, conv_relu(b, x, 0, 64, 11, 4, 2), 2, 3, 2);
    x = maxpool(b, conv_relu(b, x, 3, 192, 5, 1, 2), 5, 3, 2);
    x = conv_relu(b, x, 6, 384, 3, 1, 1);
    x = conv_relu(b, x, 8, 256, 3, 1, 1);
    x = maxpool(b, conv_relu(b, x, 10, 256, 3, 1, 1), 12, 3, 2);
    x = kiln__zb_flatten(b, adaptive_identity(b, x, 6), "flatten");
    x = linear(b, x, 1, 4096, 1);
    x = linear(b, x, 4, 4096, 1);
    return linear(b, x, 6, 1000, 0);
}
