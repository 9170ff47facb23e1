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

static PyObject *rans_encode(PyObject *self, PyObject *args) {
    Py_buffer sym, idx, cdf;
    Py_ssize_t width, lanes;
    int prec;
    if (!PyArg_ParseTuple(args, "y*y*y*nin", &sym, &idx, &cdf, &width, &prec, &lanes)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = sym.len / 8;
    const int64_t *s = sym.buf, *ix = idx.buf, *c = cdf.buf;
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
            const int64_t *row = c + ix[i] * width + s[i];
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
    PyBuffer_Release(&sym); PyBuffer_Release(&idx); PyBuffer_Release(&cdf);
    return result;
}

/* decode_steps(state, words, idx, lut, cdf, width, prec, out, ptr) -> (error, ptr)
 * Decodes len(idx) symbols (a whole number of steps) from lane states `state` (updated in
 * place, a writable u64 buffer) starting at word `ptr`. Index < 0 marks padding (out = 0). */
static PyObject *rans_decode_steps(PyObject *self, PyObject *args) {
    Py_buffer state, words, idx, lut, cdf, outb;
    Py_ssize_t width, ptr;
    int prec;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*niw*n", &state, &words, &idx, &lut, &cdf, &width, &prec, &outb, &ptr))
        return NULL;
    Py_ssize_t lanes = state.len / 8, nw = words.len / 4, n = idx.len / 8;
    const uint32_t *w = words.buf;
    const int64_t *ix = idx.buf, *c = cdf.buf;
    const int32_t *lt = lut.buf;
    int64_t *out = outb.buf;
    uint64_t *st = state.buf;
    int err = 0;
    const uint64_t mask = ((uint64_t)1 << prec) - 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0, l = 0; i < n && !err; i++, l = (l + 1 == lanes) ? 0 : l + 1) {
        if (ix[i] < 0) { out[i] = 0; continue; }
        uint64_t x = st[l], slot = x & mask;
        int64_t p = lt[(ix[i] << prec) + (int64_t)slot];
        uint64_t start = (uint64_t)c[p], f = (uint64_t)(c[p + 1] - c[p]);
        out[i] = p - ix[i] * width;
        x = f * (x >> prec) + slot - start;
        if (x < RANS_L) {
            if (ptr >= nw) { err = 1; break; }
            x = (x << 32) | w[ptr++];
        }
        st[l] = x;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&state); PyBuffer_Release(&words); PyBuffer_Release(&idx);
    PyBuffer_Release(&lut); PyBuffer_Release(&cdf); PyBuffer_Release(&outb);
    return Py_BuildValue("in", err, ptr);
}

static PyMethodDef methods[] = {
    {"decode_steps", rans_decode_steps, METH_VARARGS, "resumable decoder for sequential groups"},
    {"encode", rans_encode, METH_VARARGS, "encode(sym, idx, cdf, width, prec, lanes) -> (states, words)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ransc", "rANS lanes in C", -1, methods};

PyMODINIT_FUNC PyInit__ransc(void) { return PyModule_Create(&module); }
