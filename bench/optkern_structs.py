"""The C structures of include/optkern/*.h that the side-by-side scripts pass through ctypes,
and the enum values they use, in one place. tests/ctypes_layout_check.py holds every one of
them to the C compiler's layout (size and each field's offset), so a field added in C and not
here fails a test instead of a GPU run."""
import ctypes

P = ctypes.c_void_p

OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA = 1, 2
OPTK_COST_DENSE, OPTK_COST_SQEUCLIDEAN = 0, 1
OPTK_SINKHORN_PLAIN, OPTK_SINKHORN_SNS, OPTK_SINKHORN_LOG_DOMAIN = 0, 1, 2
OPTK_SINKHORN_SYMMETRIC, OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN = 3, 4
OPTK_SINKHORN_PLACE_AUTO = 0


class Problem(ctypes.Structure):
    """optk_ot_problem"""
    _fields_ = [("batch", ctypes.c_int64), ("n", ctypes.c_int64), ("m", ctypes.c_int64),
                ("a", P), ("b", P), ("cost", ctypes.c_int), ("c", P), ("x", P), ("y", P),
                ("dim", ctypes.c_int64)]


class Options(ctypes.Structure):
    """optk_sinkhorn_options"""
    _fields_ = [("epsilon", ctypes.c_double), ("max_iter", ctypes.c_int), ("tol", ctypes.c_double),
                ("check_every", ctypes.c_int), ("epsilon_start", ctypes.c_double),
                ("epsilon_decay", ctypes.c_double), ("rho", ctypes.c_double),
                ("warm_start", ctypes.c_bool), ("solver", ctypes.c_int),
                ("sns_warmup", ctypes.c_int), ("placement", ctypes.c_int)]

    @classmethod
    def fixed_iterations(cls, eps, iterations, solver=OPTK_SINKHORN_PLAIN, check_every=10):
        """Exactly `iterations` iterations (tol 0: no early stop), no ε-scaling, balanced;
        blocks of check_every iterations between checks (the kernel-domain path's unit)."""
        return cls(eps, iterations, 0.0, check_every, 0.0, 0.5, 0.0, False, solver, 0,
                   OPTK_SINKHORN_PLACE_AUTO)


class Outputs(ctypes.Structure):
    """optk_sinkhorn_outputs"""
    _fields_ = [(name, P) for name in
                ("f", "g", "iterations", "error", "converged", "cost", "objective", "plan")]


class ParamTensor(ctypes.Structure):
    """optk_param_tensor (OPTK_MAX_STATE = 4)"""
    _fields_ = [("numel", ctypes.c_int64), ("param", P), ("grad", P), ("state", P * 4),
                ("master", P)]


class AdamWOptions(ctypes.Structure):
    """optk_adamw_options"""
    _fields_ = [("lr", ctypes.c_double), ("beta1", ctypes.c_double), ("beta2", ctypes.c_double),
                ("eps", ctypes.c_double), ("weight_decay", ctypes.c_double),
                ("amsgrad", ctypes.c_bool), ("maximize", ctypes.c_bool)]


class Key(ctypes.Structure):
    """optk_es_key"""
    _fields_ = [("seed", ctypes.c_uint64), ("generation", ctypes.c_uint64),
                ("layer", ctypes.c_uint32)]


class Layer(ctypes.Structure):
    """optk_es_layer"""
    _fields_ = [("m", ctypes.c_int64), ("n", ctypes.c_int64), ("rank", ctypes.c_int),
                ("sigma", ctypes.c_double), ("W", P), ("bias", P)]


# C name -> ctypes class, for the layout check.
STRUCTS = {"optk_ot_problem": Problem, "optk_sinkhorn_options": Options,
           "optk_sinkhorn_outputs": Outputs, "optk_param_tensor": ParamTensor,
           "optk_adamw_options": AdamWOptions, "optk_es_key": Key, "optk_es_layer": Layer}
