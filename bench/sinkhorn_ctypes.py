"""optk_sinkhorn through ctypes, for the side-by-side scripts (PyTorch's and POT's): a context
and the call (the structures are optkern_structs.py's). Buffers are passed as raw addresses
(torch's data_ptr(), numpy's ctypes.data), so the module needs neither library."""
import ctypes

from optkern_structs import OPTK_BACKEND_CPU, OPTK_BACKEND_CUDA, P, Options, Outputs, Problem


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
