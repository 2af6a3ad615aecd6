/* optkern.h — the umbrella header: include this one.
 *
 * optkern is a C library of fused CUDA kernels for the numerics of optimization, with a
 * CPU reference backend behind one dispatch API. See README.md for a tour.
 */
#ifndef OPTKERN_H
#define OPTKERN_H

#include "optkern/core.h"
#include "optkern/es.h"
#include "optkern/hutchinson.h"
#include "optkern/memory.h"
#include "optkern/optim.h"
#include "optkern/random.h"
#include "optkern/roofline.h"
#include "optkern/sinkhorn.h"

#endif /* OPTKERN_H */
