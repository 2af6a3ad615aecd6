/* divergence_unbalanced.h — what the Sinkhorn divergence needs for KL-relaxed marginals (rho
 * > 0 finite): Séjourné et al.'s divergence takes the entropy relative to a x b, whose
 * fixed point is optk_sinkhorn's unbalanced one (POT's) for weights a^(1 / tau), and its value
 * comes from the three solves' potentials. */
#ifndef OPTK_DIVERGENCE_UNBALANCED_H
#define OPTK_DIVERGENCE_UNBALANCED_H

#include "internal.h"

/* out (backend, count floats) = w^(1 / tau) for the weights w (backend): with the entropy
 * relative to a x b the f update is eps log a - tau eps LSE, which is optk_sinkhorn's
 * tau (eps log a' - eps LSE) for a' = a^(1 / tau). Zero stays zero; a positive weight whose
 * power leaves the normal floats is refused (OPTK_ERR_UNSUPPORTED), before anything runs. */
optk_status optk_unbalanced_weights(optk_context *ctx, const char *op, const char *name,
                                    const float *w, int64_t count, float tau, float *out);

/* The three solves of a divergence, as optk_unbalanced_divergence reads them (backend
 * memory): x against y's f and g, the self problems' f (their g is the same). */
typedef struct optk_divergence_potentials {
    const float *f_ab, *g_ab, *f_aa, *f_bb;
} optk_divergence_potentials;

/* divergence[p] (host) = (rho + eps / 2) (<a, e^{-F_aa / rho} - e^{-F_ab / rho}> +
 * <b, e^{-G_bb / rho} - e^{-G_ab / rho}>) with F = f - eps log a, G = g - eps log b (the
 * potentials relative to a x b): OT(a, b) - OT(a, a) / 2 - OT(b, b) / 2 + eps (m(a) -
 * m(b))^2 / 2 once the dual values are written with the fixed point's identities (GeomLoss's
 * formula). a and b are the caller's weights (backend memory). */
optk_status optk_unbalanced_divergence(optk_context *ctx, const char *op, const optk_ot_problem *p,
                                       double eps, double rho, const optk_divergence_potentials *w,
                                       float *divergence);

#endif /* OPTK_DIVERGENCE_UNBALANCED_H */
