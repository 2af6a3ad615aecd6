/* consumer.c — a program outside the tree that finds an installed optkern. */
#include <optkern.h>
#include <stdio.h>

int main(void) {
    optk_context *ctx = NULL;
    if (optk_context_create(&ctx, OPTK_BACKEND_CPU, 0) != OPTK_OK) return 1;
    printf("consumer linked optkern %s: %s\n", optk_version_string(),
           optk_context_device_name(ctx));
    optk_context_free(ctx);
    return optk_version() == OPTK_VERSION ? 0 : 1;
}
