/* cli.h — the optkern command's subcommands and the option parsing they share. */
#ifndef OPTK_CLI_H
#define OPTK_CLI_H

#include <stdbool.h>

#include "optkern.h"

int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_validate(int argc, char **argv);

/* Parses "cpu", "cuda" or "auto"; returns false for anything else. */
bool cli_parse_backend(const char *text, optk_backend *out);

/* Opens a context on backend (AUTO: CUDA when a device is present); prints why on failure. */
optk_context *cli_open_context(optk_backend backend);

#endif /* OPTK_CLI_H */
