/* main.c — the optkern command: `optkern demo`, `info`, `validate`, `bench ...`.
 * Run `optkern --help` for the list, `optkern <command> --help` for each. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: optkern <command> [options]\n\n"
               "commands:\n"
               "  demo     a short end-to-end session of every capability (the main job)\n"
               "  info     build, backends, devices and versions\n"
               "  validate every op on CUDA against the CPU (or the CPU against float64)\n"
               "  bench    throughput of the ops against a roofline measured in the same run\n\n"
               "`optkern <command> --help` describes a command's options.\n");
}

bool cli_parse_backend(const char *text, optk_backend *out) {
    if (strcmp(text, "cpu") == 0)
        *out = OPTK_BACKEND_CPU;
    else if (strcmp(text, "cuda") == 0)
        *out = OPTK_BACKEND_CUDA;
    else if (strcmp(text, "auto") == 0)
        *out = OPTK_BACKEND_AUTO;
    else
        return false;
    return true;
}

optk_context *cli_open_context(optk_backend backend) {
    optk_context *ctx = NULL;
    optk_status s = optk_context_create(&ctx, backend, 0);
    if (s != OPTK_OK) {
        fprintf(stderr, "optkern: cannot open the %s backend: %s (%s)\n",
                optk_backend_name(backend), optk_context_last_error(NULL), optk_status_string(s));
        return NULL;
    }
    return ctx;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("optkern %s\n", optk_version_string());
        return 0;
    }
    if (strcmp(argv[1], "info") == 0) return cmd_info(argc - 1, argv + 1);
    if (strcmp(argv[1], "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(argv[1], "validate") == 0) return cmd_validate(argc - 1, argv + 1);
    if (strcmp(argv[1], "demo") == 0) return cmd_demo(argc - 1, argv + 1);
    fprintf(stderr, "optkern: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
