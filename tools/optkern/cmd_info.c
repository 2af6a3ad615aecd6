/* cmd_info.c — `optkern info`: what this build is and what it can run on. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cmd_info(int argc, char **argv) {
    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
        fprintf(help ? stdout : stderr, "usage: optkern info\n\nPrints the version, the build "
                                        "and every backend with its devices.\n");
        return help ? 0 : 2;
    }
    printf("optkern %s (API %d)\n", optk_version_string(), optk_version());
    printf("build: %s\n", optk_build_info());
    const optk_backend backends[] = {OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA};
    for (int b = 0; b < 2; ++b) {
        const char *name = optk_backend_name(backends[b]);
        if (!optk_backend_compiled(backends[b])) {
            printf("backend %-4s: not compiled into this build\n", name);
            continue;
        }
        int devices = optk_device_count(backends[b]);
        printf("backend %-4s: compiled, %d device%s\n", name, devices, devices == 1 ? "" : "s");
        if (devices == 0) {
            optk_context *ctx = NULL;
            optk_context_create(&ctx, backends[b], 0);
            printf("  (%s)\n", optk_context_last_error(NULL));
            optk_context_free(ctx);
        }
        for (int d = 0; d < devices; ++d) {
            optk_context *ctx = NULL;
            if (optk_context_create(&ctx, backends[b], d) == OPTK_OK) {
                printf("  device %d: %s\n", d, optk_context_device_name(ctx));
            } else {
                printf("  device %d: unusable: %s\n", d, optk_context_last_error(NULL));
            }
            optk_context_free(ctx);
        }
    }
    optk_context *ctx = NULL;
    if (optk_context_create(&ctx, OPTK_BACKEND_AUTO, 0) == OPTK_OK) {
        printf("default backend: %s\n", optk_backend_name(optk_context_backend(ctx)));
    }
    optk_context_free(ctx);
    return 0;
}
