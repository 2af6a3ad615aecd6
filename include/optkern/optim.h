/* optkern/optim.h — fused multi-tensor optimizer steps.
 *
 * One call updates a whole list of parameter tensors of any sizes (a real model has
 * hundreds) in one or a few kernel launches. Parameters, gradients and state live in
 * backend memory and are updated in place. The per-element formulas are those of
 * ALGORITHMS.md (each rule's official implementation); the CPU and CUDA backends give the
 * same bits.
 *
 * Non-finite values: in a plain step a NaN or Inf in a gradient propagates into that
 * element's state and parameter (as in PyTorch) and touches no other element;
 * optk_optimizer_step_scaled and optk_optimizer_step_groups with grad options skip the
 * whole step instead.
 */
#ifndef OPTKERN_OPTIM_H
#define OPTKERN_OPTIM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most state buffers any optimizer rule uses per parameter tensor. */
#define OPTK_MAX_STATE 4

/** One parameter tensor, its gradient and its optimizer state, numel elements each, no two
 *  buffers overlapping, each aligned to its element size. The parameter and gradient have
 *  the dtypes of the optimizer's options (fp32 by default; the stateless optk_adamw_step is
 *  fp32 only); state and master copies are fp32. */
typedef struct optk_param_tensor {
    int64_t numel;                /* elements, >= 1 */
    void *param;                  /* updated in place */
    const void *grad;             /* read only */
    float *state[OPTK_MAX_STATE]; /* the rule's state buffers, in the rule's order */
    float *master;                /* fp32 master copy of a bf16/fp16 parameter; else NULL */
} optk_param_tensor;

/** AdamW hyperparameters (PyTorch's torch.optim.AdamW). Doubles, as in Python: the
 *  per-step scalars are derived in double and rounded to float once per step. */
typedef struct optk_adamw_options {
    double lr;           /* learning rate, finite, >= 0 */
    double beta1;        /* first-moment decay, in [0, 1) */
    double beta2;        /* second-moment decay, in [0, 1) */
    double eps;          /* added to the denominator, finite, >= 0 */
    double weight_decay; /* decoupled: p *= 1 - lr * weight_decay; finite, >= 0 */
    bool amsgrad;        /* use the running maximum of the second moment */
    bool maximize;       /* ascend instead of descend */
} optk_adamw_options;

/** PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2. */
optk_adamw_options optk_adamw_default_options(void);

/** State buffers AdamW needs per tensor: 2 (m, v), or 3 (m, v, vmax) with amsgrad.
 *  All start at zero. Returns -1 for a NULL opt. */
int optk_adamw_state_count(const optk_adamw_options *opt);

/** One AdamW step over count tensors. step is the step number t after incrementing
 *  (1 on the first call); the caller keeps it. tensors[i].state holds m, v and, with
 *  amsgrad, vmax; other state slots are ignored.
 *  Errors: OPTK_ERR_INVALID_ARGUMENT for a NULL pointer, count < 1, step < 1, numel < 1,
 *  a NaN or out-of-range hyperparameter, a misaligned or overlapping buffer. */
optk_status optk_adamw_step(optk_context *ctx, const optk_adamw_options *opt, int64_t step,
                            const optk_param_tensor *tensors, int count);

/* ---- Every rule: options, state, and the optimizer object ---------------------------- */

/** The optimizer rules. Semantics: ALGORITHMS.md, i.e. the official implementations. */
typedef enum optk_rule {
    OPTK_RULE_SGD = 0,    /* PyTorch SGD: momentum, dampening, Nesterov */
    OPTK_RULE_SIGNUM,     /* signSGD (momentum 0) / Signum */
    OPTK_RULE_ADAGRAD,    /* PyTorch Adagrad */
    OPTK_RULE_RMSPROP,    /* PyTorch RMSprop: centered, momentum */
    OPTK_RULE_ADAM,       /* PyTorch Adam (coupled L2), AMSGrad */
    OPTK_RULE_ADAMW,      /* PyTorch AdamW (decoupled), AMSGrad */
    OPTK_RULE_ADABELIEF,  /* adabelief_pytorch 0.2 */
    OPTK_RULE_DIFFGRAD,   /* diffGrad v2 */
    OPTK_RULE_ADAN,       /* sail-sg Adan (multi-tensor path) */
    OPTK_RULE_LION,       /* google/automl Lion */
    OPTK_RULE_SOPHIA,     /* SophiaG step; h from an estimator */
    OPTK_RULE_ADAHESSIAN, /* AdaHessian step; D from an estimator */
    OPTK_RULE_SCHEDULE_FREE_ADAMW,
    OPTK_RULE_SCHEDULE_FREE_SGD,
    OPTK_RULE_COUNT
} optk_rule;

/** Hyperparameters of every rule; each rule reads the fields its row of the README's rule
 *  table names. Start from optk_optim_default_options(rule), which gives the official
 *  defaults, and change what you need. */
typedef struct optk_optim_options {
    optk_rule rule;
    double lr;
    double weight_decay; /* coupled or decoupled as the rule's official code does */
    bool maximize;       /* ascend: the gradient is negated first */
    /* SGD, Signum (its beta), RMSprop, Schedule-Free SGD */
    double momentum;
    double dampening;                 /* SGD */
    bool nesterov;                    /* SGD: needs momentum > 0 and dampening 0 */
    double alpha;                     /* RMSprop smoothing constant */
    bool centered;                    /* RMSprop */
    double lr_decay;                  /* Adagrad */
    double initial_accumulator_value; /* Adagrad */
    /* Adam family, AdaBelief, diffGrad, Adan (beta3 too), Lion, Sophia, AdaHessian, SF-AdamW */
    double beta1, beta2, beta3;
    double eps;
    bool amsgrad;            /* Adam, AdamW */
    bool weight_decouple;    /* AdaBelief: decoupled decay */
    bool fixed_decay;        /* AdaBelief: p *= 1 - wd instead of 1 - lr wd */
    bool rectify;            /* AdaBelief */
    bool degenerated_to_sgd; /* AdaBelief: SGD steps while the rectifier is undefined */
    bool no_prox;            /* Adan: decoupled decay instead of the proximal form */
    double rho;              /* Sophia clipping scale */
    double batch_tokens;     /* Sophia: tokens per batch ("bs"), > 0, must be set */
    double hessian_power;    /* AdaHessian k, in (0, 1] */
    int64_t warmup_steps;    /* Schedule-Free linear warm-up */
    double r;                /* Schedule-Free polynomial weighting power */
    double weight_lr_power;  /* Schedule-Free */
    /* Precision (every rule). The rule always computes in fp32, on the fp32 master copy (or
     * on the fp32 parameter); a bf16/fp16 parameter is then written from it rounded to
     * nearest even, or, for bf16 with stochastic_rounding and no master copy, rounded
     * stochastically with random bits keyed by (seed, step, tensor, element). */
    optk_dtype param_dtype;   /* OPTK_F32 (default), OPTK_BF16, OPTK_F16 */
    optk_dtype grad_dtype;    /* OPTK_F32 (default), OPTK_BF16, OPTK_F16 */
    bool stochastic_rounding; /* bf16 parameters without a master copy */
    uint64_t seed;            /* of the stochastic rounding */
} optk_optim_options;

/** The official defaults of a rule (see the README's table). */
optk_optim_options optk_optim_default_options(optk_rule rule);

/** "sgd", "signum", "adagrad", "rmsprop", "adam", "adamw", "adabelief", "diffgrad", "adan",
 *  "lion", "sophia", "adahessian", "schedule_free_adamw", "schedule_free_sgd";
 *  "unknown" otherwise. */
const char *optk_rule_name(optk_rule rule);

/** How many state buffers the rule needs per tensor with these options (0..4), or -1 for a
 *  NULL or unknown rule. Their order and meaning: optk_optim_state_name. */
int optk_optim_state_count(const optk_optim_options *opt);

/** Name of state buffer index ("m", "v", "vmax", "z", "h", ...), or NULL out of range. */
const char *optk_optim_state_name(const optk_optim_options *opt, int index);

/** A stateful optimizer: the rule, its options, the step counter and the per-group scalars
 *  some rules keep (Schedule-Free's lr_max and weight sum, its train/eval mode). */
typedef struct optk_optimizer optk_optimizer;

/** Validates opt and creates an optimizer on ctx (which must outlive it).
 *  OPTK_ERR_INVALID_ARGUMENT with a message for out-of-range hyperparameters. */
optk_status optk_optimizer_create(optk_context *ctx, const optk_optim_options *opt,
                                  optk_optimizer **out);

/** Frees an optimizer. Accepts NULL. */
void optk_optimizer_free(optk_optimizer *optimizer);

/** The options the optimizer runs with. */
const optk_optim_options *optk_optimizer_options(const optk_optimizer *optimizer);

/** Sets every state buffer of the tensors to its starting value: zero; Adagrad's sum to
 *  initial_accumulator_value; Schedule-Free's z to a copy of the parameter (of the master copy
 *  when there is one). Sophia's h and AdaHessian's D start at zero and are then written by the
 *  Hutchinson estimators. With a master copy, Adagrad and Schedule-Free also rewrite the
 *  bf16/fp16 parameter as the master rounded to nearest (a no-op when they agree). */
optk_status optk_optimizer_init_state(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                      int count);

/** One step over count tensors: increments the step counter, derives the step's scalars in
 *  double and runs the rule's fused kernel(s). Refused (nothing written) for bad tensors, or
 *  for a Schedule-Free optimizer in eval mode. */
optk_status optk_optimizer_step(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                int count);

/** Steps taken so far (0 after create; a loaded record's count after optk_optimizer_load).
 *  Capturable steps count in the caller's optk_step_scalars.step instead, which this does not
 *  read back. */
int64_t optk_optimizer_step_count(const optk_optimizer *optimizer);

/** Changes the learning rate for the following steps (schedules). */
optk_status optk_optimizer_set_lr(optk_optimizer *optimizer, double lr);

/** Writes the optimizer's own state — what is not in the tensors' buffers: the step counter,
 *  the learning rate (optk_optimizer_set_lr may have changed it), Schedule-Free's train/eval
 *  mode and each group's lr_max and weight sum — into buffer as a versioned record with a
 *  fixed byte order, and its length into *size; with buffer NULL only *size is set. Saving the
 *  tensors (parameters, master copies, state buffers) is the caller's part. After capturable
 *  steps the counter and Schedule-Free's scalars are read back from backend memory (a
 *  synchronising copy). OPTK_ERR_INVALID_ARGUMENT if capacity is below the record's size. */
optk_status optk_optimizer_save(const optk_optimizer *optimizer, void *buffer, size_t capacity,
                                size_t *size);

/** Restores what optk_optimizer_save wrote, into an optimizer of the same rule (created with
 *  the same options, and with the tensors restored too, training continues bit for bit as if
 *  it had not stopped). Refused with nothing changed for a buffer that is not such a record,
 *  another rule, values out of range (OPTK_ERR_INVALID_ARGUMENT) or another format version
 *  (OPTK_ERR_UNSUPPORTED). A capturable step reads its counter from the caller's
 *  optk_step_scalars: restore that as well. */
optk_status optk_optimizer_load(optk_optimizer *optimizer, const void *buffer, size_t size);

/** Schedule-Free only: switches the parameters to the evaluation point x (eval) or back to
 *  the training point y (train), in place: p = p + w (z - p) with w = 1 - 1/beta1 (eval) or
 *  1 - beta1 (train). Calling the mode the optimizer is already in does nothing. Bf16
 *  parameters without a master copy round stochastically with the stream after the last
 *  step's; after capturable steps the counter is read back from backend memory (a
 *  synchronising copy: not capturable). */
optk_status optk_optimizer_eval(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                int count);
optk_status optk_optimizer_train(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                 int count);

/* ---- Loss scaling, gradient clipping, skip on overflow --------------------------------- */

/** What to do with the gradients inside a step, as torch.cuda.amp.GradScaler.unscale_ and
 *  torch.nn.utils.clip_grad_norm_ would, without modifying the gradient buffers. */
typedef struct optk_grad_options {
    double inv_scale; /* unscaling: each gradient is multiplied by it first (1: none), > 0 */
    double max_norm;  /* clip the global L2 norm of the unscaled gradients to it: each is then
                         multiplied by min(1, max_norm / (norm + 1e-6)); 0: no clipping */
} optk_grad_options;

/** What a guarded step did. */
typedef struct optk_step_report {
    double grad_norm; /* global L2 norm of the unscaled gradients (Inf or NaN if any is) */
    bool skipped;     /* a gradient was non-finite: nothing was written, the counter kept */
} optk_step_report;

/** Global L2 norm of the gradients (of grad_dtype; only grad is read) of the tensors,
 *  sqrt(sum of g^2) accumulated in double in
 *  a fixed order (the same bits on every run of a backend; CPU and CUDA agree to ~1e-15).
 *  Inf or NaN when any gradient is. Waits for the device (the norm is a host value). */
optk_status optk_grad_norm(optk_context *ctx, const optk_param_tensor *tensors, int count,
                           optk_dtype grad_dtype, double *norm);

/** One step with loss-scale unscaling and global-norm clipping: computes the norm of the
 *  unscaled gradients; if it is not finite, skips the step (no parameter or state written,
 *  the step counter not advanced, report->skipped set); otherwise runs the rule with
 *  g = (g * inv_scale) * clip. report may be NULL. Waits for the device once (for the norm).
 */
optk_status optk_optimizer_step_scaled(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                       int count, const optk_grad_options *grad,
                                       optk_step_report *report);

/* ---- Parameter groups ----------------------------------------------------------------- */

/** A group of tensors with its own learning-rate and weight-decay multipliers, as PyTorch's
 *  param_groups: e.g. {weights, 1, 1} and {biases and norms, 1, 0}. */
typedef struct optk_param_group {
    const optk_param_tensor *tensors;
    int count;
    double lr_scale;           /* the group's lr is lr * lr_scale; finite, >= 0 */
    double weight_decay_scale; /* the group's weight_decay is weight_decay * it; 0: no decay */
} optk_param_group;

/** One step over several groups in one call: one launch per group, one step counter. With
 *  grad non-NULL, unscaling, clipping and the skip on non-finite gradients work as in
 *  optk_optimizer_step_scaled over all groups together (one global norm). Schedule-Free keeps
 *  its lr_max and weight sum per group index, as upstream does per param_group. No tensor
 *  may overlap another, within or across groups. report may be NULL. */
optk_status optk_optimizer_step_groups(optk_optimizer *optimizer, const optk_param_group *groups,
                                       int ngroups, const optk_grad_options *grad,
                                       optk_step_report *report);

/* ---- Graph-capturable steps ---------------------------------------------------------- */

/** The scalars of a graph-capturable step, kept in backend memory (device memory on CUDA;
 *  get it from optk_mem_alloc and fill it with optk_mem_upload). A capturable step reads and
 *  writes them when it runs on the stream, not when it is called, so a step captured once in
 *  a CUDA graph replays with whatever lr and inv_scale are there at each replay and counts
 *  its own steps, as torch.optim's capturable=True does with its device tensors. */
typedef struct optk_step_scalars {
    double lr;         /* in: the learning rate of the step (groups scale it); finite, >= 0 */
    double inv_scale;  /* in: 1 / loss scale, multiplied into every gradient; 1 for none */
    int64_t step;      /* in/out: steps taken; a step that is not skipped adds 1 first */
    int32_t found_inf; /* out: 1 if a gradient was non-finite (guarded steps), else 0 */
    int32_t rejected;  /* out: 1 if lr, inv_scale or step was invalid, or a derived scalar
                          overflowed float; the step was skipped */
    double grad_norm;  /* out: global L2 norm of the unscaled gradients (guarded steps) */
} optk_step_scalars;

/** What a capturable step does with the gradients, fixed when it is called (captured). */
typedef struct optk_capture_options {
    bool guard;      /* compute the global norm; skip the step if it is not finite */
    double max_norm; /* > 0: also clip the global norm to it, as optk_grad_options */
} optk_capture_options;

/** One graph-capturable step over the groups (ngroups <= 64), every per-step value taken
 *  from `scalars` (backend memory) when the step runs: no host synchronisation, no
 *  host-to-device copy, no allocation once warmed up, so the call can be captured in a CUDA
 *  graph on the context's stream and replayed. Skipped steps (found_inf, rejected) write no
 *  parameter or state and leave scalars->step as it was. Each step gives the same bits as
 *  optk_optimizer_step_groups with the same values, on both backends (on the CPU backend
 *  everything runs at once). options may be NULL (no guard, no clipping).
 *
 *  Warm-up: the first call allocates the optimizer's scratch in backend memory (one
 *  optk_capture_area and room for the norm's partial sums); make it outside any capture, with
 *  the tensor list you will capture, as with PyTorch's warm-up iterations. A longer list
 *  later grows the scratch, which a graph captured before must not use again.
 *  An optimizer that took a capturable step takes only capturable steps (its counter and
 *  Schedule-Free's carried scalars live in backend memory now); Schedule-Free needs integer
 *  r and weight_lr_power here (the defaults), so that both backends round them alike.
 *  Errors (nothing enqueued): those of optk_optimizer_step_groups, scalars NULL or not
 *  8-byte aligned, more than 64 groups. */
optk_status optk_optimizer_step_capturable(optk_optimizer *optimizer,
                                           const optk_param_group *groups, int ngroups,
                                           const optk_capture_options *options,
                                           optk_step_scalars *scalars);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_OPTIM_H */
