"""The inputs of the reference scripts, reproducible bit for bit in C (tests/reference_data.c):
splitmix64 of a packed key, mapped to values exact in float32."""

MASK = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def value(kind, config, step, tensor, i):
    """kind 0: parameter, 1: gradient (1 in 32 of those are zero), 2: a positive curvature in
    [2^-10, 1 + 2^-10], 3: |a gradient-like value| (a curvature estimate)."""
    h = splitmix64((kind << 56) ^ (config << 48) ^ (step << 32) ^ (tensor << 24) ^ i)
    if kind == 2:
        return (((h >> 40) & 0xFFFFFF) + 1) / float(1 << 24) * 2.0 ** -((h >> 8) & 7) + 2.0 ** -10
    if (h & 0xFF) < 8:
        return 0.0
    mantissa = (h >> 40) & 0xFFFFFF
    v = (mantissa - (1 << 23)) / float(1 << 23) * 2.0 ** -((h >> 8) & 7)
    return abs(v) if kind == 3 else v
