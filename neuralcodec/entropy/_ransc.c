/* Interleaved rANS lanes in C: the CPU fast path of neuralcodec/entropy/rans.py.
 *
 * Same arithmetic and stream order as the numpy/torch reference (encode_lanes/decode_lanes):
 * state in [2^31, 2^63), 32-bit words, precision p <= 16, symbol i in lane i % L at step i / L.
 * The encoder fills the word buffer from its end (steps descending, lanes descending), so the
 * words come out in the decoder's read order: step ascending, lane ascending.
 * Index -1 marks padding (a no-op), which lets sequential groups share one blob.
 * Inputs are validated by the Python caller (index ranges, table shape); this file checks
 * only what the stream can lie about: the word count (the caller checks the final states).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RANS_L ((uint64_t)1 << 31)

/* encode(values, idx, cdf, offset, length, width, prec, lanes, escaped) -> (states, words)
 * Maps each value to its row's symbol (the row's escape symbol, flagged in `escaped`, when the
 * value is outside the row's support), then codes it; index < 0 is padding. */
static PyObject *rans_encode(PyObject *self, PyObject *args) {
    Py_buffer val, idx, cdf, off, len, escb;
    Py_ssize_t width, lanes;
    int prec;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*niny*", &val, &idx, &cdf, &off, &len, &width, &prec, &lanes, &escb))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = val.len / 8;
    const int64_t *v = val.buf, *ix = idx.buf, *c = cdf.buf, *of = off.buf, *ln = len.buf;
    uint8_t *esc = (uint8_t *)escb.buf;
    uint64_t *st = malloc(sizeof(uint64_t) * (size_t)lanes);
    uint32_t *out = malloc(sizeof(uint32_t) * (size_t)(n > 0 ? n : 1));
    if (!st || !out) { PyErr_NoMemory(); goto done; }
    Py_ssize_t steps = lanes ? (n + lanes - 1) / lanes : 0, pos = n;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t l = 0; l < lanes; l++) st[l] = RANS_L;
    for (Py_ssize_t t = steps - 1; t >= 0; t--) {
        Py_ssize_t base = t * lanes;
        Py_ssize_t last = (base + lanes <= n) ? lanes - 1 : n - base - 1;
        for (Py_ssize_t l = last; l >= 0; l--) {
            Py_ssize_t i = base + l;
            if (ix[i] < 0) continue;  /* padding between sequential groups: a no-op */
            int64_t r = ix[i], sym = v[i] - of[r];
            if (sym < 0 || sym >= ln[r] - 1) { sym = ln[r] - 1; esc[i] = 1; }
            const int64_t *row = c + r * width + sym;
            uint64_t start = (uint64_t)row[0], f = (uint64_t)(row[1] - row[0]);
            uint64_t x = st[l];
            if ((x >> 1) >= (f << (62 - prec))) { out[--pos] = (uint32_t)x; x >>= 32; }
            uint64_t q = x / f;
            st[l] = (q << prec) + (x - q * f) + start;
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *states = PyBytes_FromStringAndSize((const char *)st, (Py_ssize_t)(8 * lanes));
    PyObject *words = PyBytes_FromStringAndSize((const char *)(out + pos), (Py_ssize_t)(4 * (n - pos)));
    if (states && words) result = PyTuple_Pack(2, states, words);
    Py_XDECREF(states); Py_XDECREF(words);
done:
    free(st); free(out);
    PyBuffer_Release(&val); PyBuffer_Release(&idx); PyBuffer_Release(&cdf);
    PyBuffer_Release(&off); PyBuffer_Release(&len); PyBuffer_Release(&escb);
    return result;
}

/* decode_steps(state, words, idx, lut, cdf, offset, length, width, prec, out, escaped, ptr) -> (error, ptr)
 * Decodes len(idx) values (a whole number of steps) from lane states `state` (updated in
 * place, a writable u64 buffer) starting at word `ptr`: out = symbol + offset of its row, and
 * escaped = 1 where the symbol is the row's escape. Index < 0 marks padding (out = 0). */
static PyObject *rans_decode_steps(PyObject *self, PyObject *args) {
    Py_buffer state, words, idx, lut, cdf, off, len, outb, escb;
    Py_ssize_t width, ptr;
    int prec;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*y*niw*w*n", &state, &words, &idx, &lut, &cdf, &off, &len, &width,
                          &prec, &outb, &escb, &ptr))
        return NULL;
    Py_ssize_t lanes = state.len / 8, nw = words.len / 4, n = idx.len / 8;
    const uint32_t *w = words.buf;
    const int64_t *ix = idx.buf, *c = cdf.buf, *of = off.buf, *ln = len.buf;
    uint8_t *esc = (uint8_t *)escb.buf;
    const int32_t *lt = lut.buf;
    int64_t *out = outb.buf;
    uint64_t *st = state.buf;
    int err = 0;
    const uint64_t mask = ((uint64_t)1 << prec) - 1;
    Py_BEGIN_ALLOW_THREADS
    if (lanes == 0 || n % lanes) err = 1;  /* groups are padded to whole steps by the caller */
    Py_ssize_t steps = err ? 0 : n / lanes;
    for (Py_ssize_t t = 0; t < steps && !err; t++) {
        const Py_ssize_t base = t * lanes;
        for (Py_ssize_t l = 0; l < lanes; l++) {
            const Py_ssize_t i = base + l;
            const int64_t r = ix[i];
            if (r < 0) { out[i] = 0; esc[i] = 0; continue; }
            uint64_t x = st[l], slot = x & mask;
            const int64_t p = lt[(r << prec) + (int64_t)slot];
            const uint64_t start = (uint64_t)c[p], f = (uint64_t)(c[p + 1] - c[p]);
            const int64_t sym = p - r * width;
            out[i] = sym + of[r];
            esc[i] = sym == ln[r] - 1;
            x = f * (x >> prec) + slot - start;
            if (x < RANS_L) {
                if (ptr >= nw) { err = 1; break; }
                x = (x << 32) | w[ptr++];
            }
            st[l] = x;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&state); PyBuffer_Release(&words); PyBuffer_Release(&idx);
    PyBuffer_Release(&lut); PyBuffer_Release(&cdf); PyBuffer_Release(&outb);
    PyBuffer_Release(&off); PyBuffer_Release(&len); PyBuffer_Release(&escb);
    return Py_BuildValue("in", err, ptr);
}

static PyMethodDef methods[] = {
    {"decode_steps", rans_decode_steps, METH_VARARGS, "resumable decoder for sequential groups"},
    {"encode", rans_encode, METH_VARARGS, "encode(sym, idx, cdf, width, prec, lanes) -> (states, words)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ransc", "rANS lanes in C", -1, methods};

PyMODINIT_FUNC PyInit__ransc(void) { return PyModule_Create(&module); }
