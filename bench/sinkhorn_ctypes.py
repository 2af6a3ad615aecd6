"""optk_sinkhorn through ctypes, for the side-by-side scripts (PyTorch's and POT's): the
structures of include/optkern/sinkhorn.h and a context. Buffers are passed as raw addresses
(torch's data_ptr(), numpy's ctypes.data), so the module needs neither library."""
import ctypes

OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA = 1, 2
OPTK_COST_DENSE, OPTK_COST_SQEUCLIDEAN = 0, 1
P = ctypes.c_void_p


class Problem(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("n", ctypes.c_int64), ("m", ctypes.c_int64),
                ("a", P), ("b", P), ("cost", ctypes.c_int), ("c", P), ("x", P), ("y", P),
                ("dim", ctypes.c_int64)]


OPTK_SINKHORN_PLAIN, OPTK_SINKHORN_SNS, OPTK_SINKHORN_LOG_DOMAIN = 0, 1, 2


class Options(ctypes.Structure):
    _fields_ = [("epsilon", ctypes.c_double), ("max_iter", ctypes.c_int), ("tol", ctypes.c_double),
                ("check_every", ctypes.c_int), ("epsilon_start", ctypes.c_double),
                ("epsilon_decay", ctypes.c_double), ("rho", ctypes.c_double),
                ("warm_start", ctypes.c_bool), ("solver", ctypes.c_int),
                ("sns_warmup", ctypes.c_int)]

    @classmethod
    def fixed_iterations(cls, eps, iterations, solver=OPTK_SINKHORN_PLAIN, check_every=10):
        """Exactly `iterations` iterations (tol 0: no early stop), no ε-scaling, balanced;
        blocks of check_every iterations between checks (the kernel-domain path's unit)."""
        return cls(eps, iterations, 0.0, check_every, 0.0, 0.5, 0.0, False, solver, 0)


class Outputs(ctypes.Structure):
    _fields_ = [(name, P) for name in
                ("f", "g", "iterations", "error", "converged", "cost", "objective", "plan")]


class Optkern:
    """A context on the CPU or CUDA backend and optk_sinkhorn on it."""

    def __init__(self, lib_path, device):
        self.lib = ctypes.CDLL(lib_path)
        self.lib.optk_context_create.argtypes = [ctypes.POINTER(P), ctypes.c_int, ctypes.c_int]
        self.lib.optk_context_last_error.restype = ctypes.c_char_p
        self.lib.optk_context_last_error.argtypes = [P]
        self.lib.optk_sinkhorn.argtypes = [P, ctypes.POINTER(Problem), ctypes.POINTER(Options),
                                           ctypes.POINTER(Outputs)]
        self.lib.optk_version_string.restype = ctypes.c_char_p
        self.ctx = P()
        backend = OPTK_BACKEND_CUDA if device == "cuda" else OPTK_BACKEND_CPU
        if self.lib.optk_context_create(ctypes.byref(self.ctx), backend, 0) != 0:
            raise RuntimeError(self.lib.optk_context_last_error(None).decode())

    def version(self):
        return self.lib.optk_version_string().decode()

    def sinkhorn(self, problem, options, outputs):
        if self.lib.optk_sinkhorn(self.ctx, ctypes.byref(problem), ctypes.byref(options),
                                  ctypes.byref(outputs)) != 0:
            raise RuntimeError(self.lib.optk_context_last_error(self.ctx).decode())
