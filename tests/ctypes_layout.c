/* ctypes_layout.c — prints the layout of every public structure the side-by-side scripts pass
 * through ctypes (bench/optkern_structs.py): "struct NAME SIZE" and "field NAME.FIELD OFFSET",
 * for tests/ctypes_layout_check.py to compare with the Python side. */
#include "optkern.h"

#include <stddef.h>
#include <stdio.h>

#define STRUCT(type) printf("struct %s %zu\n", #type, sizeof(type))
#define FIELD(type, field) printf("field %s.%s %zu\n", #type, #field, offsetof(type, field))

int main(void) {
    STRUCT(optk_ot_problem);
    FIELD(optk_ot_problem, batch), FIELD(optk_ot_problem, n), FIELD(optk_ot_problem, m);
    FIELD(optk_ot_problem, a), FIELD(optk_ot_problem, b), FIELD(optk_ot_problem, cost);
    FIELD(optk_ot_problem, c), FIELD(optk_ot_problem, x), FIELD(optk_ot_problem, y);
    FIELD(optk_ot_problem, dim);
    STRUCT(optk_sinkhorn_options);
    FIELD(optk_sinkhorn_options, epsilon), FIELD(optk_sinkhorn_options, max_iter);
    FIELD(optk_sinkhorn_options, tol), FIELD(optk_sinkhorn_options, check_every);
    FIELD(optk_sinkhorn_options, epsilon_start), FIELD(optk_sinkhorn_options, epsilon_decay);
    FIELD(optk_sinkhorn_options, rho), FIELD(optk_sinkhorn_options, warm_start);
    FIELD(optk_sinkhorn_options, solver), FIELD(optk_sinkhorn_options, sns_warmup);
    FIELD(optk_sinkhorn_options, placement);
    STRUCT(optk_sinkhorn_outputs);
    FIELD(optk_sinkhorn_outputs, f), FIELD(optk_sinkhorn_outputs, g);
    FIELD(optk_sinkhorn_outputs, iterations), FIELD(optk_sinkhorn_outputs, error);
    FIELD(optk_sinkhorn_outputs, converged), FIELD(optk_sinkhorn_outputs, cost);
    FIELD(optk_sinkhorn_outputs, objective), FIELD(optk_sinkhorn_outputs, plan);
    STRUCT(optk_param_tensor);
    FIELD(optk_param_tensor, numel), FIELD(optk_param_tensor, param);
    FIELD(optk_param_tensor, grad), FIELD(optk_param_tensor, state);
    FIELD(optk_param_tensor, master);
    STRUCT(optk_adamw_options);
    FIELD(optk_adamw_options, lr), FIELD(optk_adamw_options, beta1);
    FIELD(optk_adamw_options, beta2), FIELD(optk_adamw_options, eps);
    FIELD(optk_adamw_options, weight_decay), FIELD(optk_adamw_options, amsgrad);
    FIELD(optk_adamw_options, maximize);
    STRUCT(optk_es_key);
    FIELD(optk_es_key, seed), FIELD(optk_es_key, generation), FIELD(optk_es_key, layer);
    STRUCT(optk_es_layer);
    FIELD(optk_es_layer, m), FIELD(optk_es_layer, n), FIELD(optk_es_layer, rank);
    FIELD(optk_es_layer, sigma), FIELD(optk_es_layer, W), FIELD(optk_es_layer, bias);
    return 0;
}
