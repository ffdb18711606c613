#include <stdio.h>

#include "kiln.h"

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("kiln %s\n", kiln_version());
    return 0;
}
