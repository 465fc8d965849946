/*
 * candlecast._numrows: JSON rows of numbers to packed doubles and back.
 *
 * format_rows writes numeric columns as pandas' to_json(orient="split") writes its
 * "data" (see below); parse reads such rows back:
 *
 * parse(text, start, ncols) reads, from text[start:], a JSON value of the form
 *     [[n, n, ...], [n, n, ...], ...]
 * where every n is a JSON number or null (null becomes NaN), every row has exactly
 * ncols values, and optional JSON whitespace appears between tokens. It returns
 * (data, nrows, end, flags): data holds nrows * ncols native doubles in row order, end is
 * the offset just after the closing bracket, flags holds one byte per column with bit
 * 1 << class set for every class of token seen in it (TOKEN_INT, TOKEN_FLOAT, TOKEN_NULL,
 * TOKEN_BIG_INT below), so the caller can give each column its dtype. For anything else (a string, true/false, a
 * nested value, a ragged row, a malformed number, truncated text) it returns None, and
 * the caller falls back to a general JSON parser. It never reads outside the text.
 *
 * Numbers are converted exactly as a correctly rounding parser does: a decimal with at
 * most 19 significant digits whose value m * 10^e has m <= 2^53 and |e| <= 22 is m
 * multiplied or divided by an exact power of ten (one IEEE rounding: Clinger's fast
 * path); every other number goes through PyOS_string_to_double (David Gay's correctly
 * rounded conversion).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static const double POW10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

typedef struct {
    const char *p;
    const char *end;
} Cursor;

static inline void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) {
        c->p++;
    }
}

static inline int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Token classes reported per column (as bit 1 << class) */
#define TOKEN_INT 0     /* an integer literal whose value the double holds exactly */
#define TOKEN_FLOAT 1   /* a literal with a fraction or an exponent */
#define TOKEN_NULL 2    /* null */
#define TOKEN_BIG_INT 3 /* an integer literal beyond 2^53: the double is not exact */

/* Parse one JSON number or null at c->p, setting *cls to its TOKEN_ class. Return 0 on
 * success, -1 if not a number. */
static int parse_value(Cursor *c, double *out, int *cls) {
    const char *start = c->p;
    const char *p = c->p;
    const char *end = c->end;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        c->p = p + 4;
        *out = Py_NAN;
        *cls = TOKEN_NULL;
        return 0;
    }
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        return -1;
    }
    uint64_t mantissa = 0;
    int digits = 0;       /* significant digits accumulated in mantissa */
    int dropped = 0;      /* significant digits beyond 19 */
    int exponent = 0;     /* decimal exponent of mantissa's last digit */
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            return -1; /* JSON forbids leading zeros */
        }
    } else {
        while (p < end && is_digit(*p)) {
            if (digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                if (mantissa) digits++;
            } else {
                dropped++;
            }
            p++;
        }
        exponent += dropped;
    }
    int has_fraction = 0;
    if (p < end && *p == '.') {
        has_fraction = 1;
        p++;
        if (p >= end || !is_digit(*p)) {
            return -1;
        }
        while (p < end && is_digit(*p)) {
            if (digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                if (mantissa) digits++;
                exponent--;
            } else {
                dropped++;
            }
            p++;
        }
    }
    int exp_part = 0;
    int has_exponent = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        has_exponent = 1;
        p++;
        int exp_negative = 0;
        if (p < end && (*p == '+' || *p == '-')) {
            exp_negative = (*p == '-');
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            return -1;
        }
        while (p < end && is_digit(*p)) {
            if (exp_part < 100000) exp_part = exp_part * 10 + (*p - '0');
            p++;
        }
        if (exp_negative) exp_part = -exp_part;
    }
    c->p = p;
    if (has_fraction || has_exponent) {
        *cls = TOKEN_FLOAT;
    } else {
        *cls = (dropped == 0 && mantissa <= (1ULL << 53)) ? TOKEN_INT : TOKEN_BIG_INT;
    }
    if (dropped == 0 && mantissa <= (1ULL << 53)) {
        int e = exponent + exp_part;
        double value = (double)mantissa;
        if (mantissa == 0) {
            /* "-0" is JSON's integer zero (+0.0 as a double); "-0.0" and "-0e0" are -0.0 */
            *out = (negative && (has_fraction || has_exponent)) ? -0.0 : 0.0;
            return 0;
        }
        if (e >= 0 && e <= 22) {
            value *= POW10[e];
            *out = negative ? -value : value;
            return 0;
        }
        if (e < 0 && e >= -22) {
            value /= POW10[-e];
            *out = negative ? -value : value;
            return 0;
        }
    }
    /* the general case: the exact text through Python's correctly rounded conversion */
    Py_ssize_t len = p - start;
    char small[64];
    char *buf = small;
    if (len >= (Py_ssize_t)sizeof(small)) {
        buf = PyMem_Malloc((size_t)len + 1);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -2;
        }
    }
    memcpy(buf, start, (size_t)len);
    buf[len] = '\0';
    double value = PyOS_string_to_double(buf, NULL, NULL);
    if (buf != small) PyMem_Free(buf);
    if (value == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    *out = value;
    return 0;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "Onn", &text, &start, &ncols)) {
        return NULL;
    }
    const char *data;
    Py_ssize_t size;
    if (PyUnicode_Check(text)) {
        if (!PyUnicode_IS_ASCII(text)) {
            Py_RETURN_NONE; /* numbers are ASCII; anything else is not ours to parse */
        }
        data = (const char *)PyUnicode_DATA(text);
        size = PyUnicode_GET_LENGTH(text);
    } else if (PyBytes_Check(text)) {
        data = PyBytes_AS_STRING(text);
        size = PyBytes_GET_SIZE(text);
    } else {
        PyErr_SetString(PyExc_TypeError, "text must be str or bytes");
        return NULL;
    }
    if (start < 0 || start > size || ncols < 1) {
        Py_RETURN_NONE;
    }
    Cursor c = {data + start, data + size};
    PyObject *flags = PyBytes_FromStringAndSize(NULL, ncols);
    if (flags == NULL) {
        return NULL;
    }
    unsigned char *seen = (unsigned char *)PyBytes_AS_STRING(flags);
    memset(seen, 0, (size_t)ncols);
    size_t capacity = 4096;
    size_t count = 0;
    double *values = PyMem_Malloc(capacity * sizeof(double));
    if (values == NULL) {
        Py_DECREF(flags);
        return PyErr_NoMemory();
    }
    Py_ssize_t nrows = 0;
    skip_ws(&c);
    if (c.p >= c.end || *c.p != '[') goto not_ours;
    c.p++;
    skip_ws(&c);
    if (c.p < c.end && *c.p == ']') {
        c.p++;
        goto done;
    }
    for (;;) {
        skip_ws(&c);
        if (c.p >= c.end || *c.p != '[') goto not_ours;
        c.p++;
        for (Py_ssize_t col = 0; col < ncols; col++) {
            skip_ws(&c);
            if (count == capacity) {
                capacity *= 2;
                double *grown = PyMem_Realloc(values, capacity * sizeof(double));
                if (grown == NULL) {
                    PyMem_Free(values);
                    Py_DECREF(flags);
                    return PyErr_NoMemory();
                }
                values = grown;
            }
            int cls = TOKEN_INT;
            int status = parse_value(&c, &values[count], &cls);
            if (status == -2) {
                PyMem_Free(values);
                Py_DECREF(flags);
                return NULL;
            }
            if (status != 0) goto not_ours;
            seen[col] |= (unsigned char)(1u << cls);
            count++;
            skip_ws(&c);
            if (col + 1 < ncols) {
                if (c.p >= c.end || *c.p != ',') goto not_ours;
                c.p++;
            }
        }
        if (c.p >= c.end || *c.p != ']') goto not_ours;
        c.p++;
        nrows++;
        skip_ws(&c);
        if (c.p >= c.end) goto not_ours;
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        if (*c.p == ']') {
            c.p++;
            break;
        }
        goto not_ours;
    }
done:;
    PyObject *packed = PyBytes_FromStringAndSize((const char *)values, (Py_ssize_t)(count * sizeof(double)));
    PyMem_Free(values);
    if (packed == NULL) {
        Py_DECREF(flags);
        return NULL;
    }
    return Py_BuildValue("(NnnN)", packed, nrows, (Py_ssize_t)(c.p - data), flags);
not_ours:
    PyMem_Free(values);
    Py_DECREF(flags);
    Py_RETURN_NONE;
}

/* ---- formatting: pandas' to_json(double_precision=10) text of numeric columns ---- */

static const char PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static inline int decimal_length(uint64_t value) {
    int n = 1;
    uint64_t bound = 10;
    while (n < 20 && value >= bound) { /* bound wraps after 10^19, when the loop ends */
        n++;
        bound *= 10;
    }
    return n;
}

/* Write value's digits straight to their places, two at a time (no temporary, no
 * variable-length copy). */
static char *write_u64(char *out, uint64_t value) {
    int n = decimal_length(value);
    char *p = out + n;
    while (value >= 100) {
        p -= 2;
        memcpy(p, PAIRS + 2 * (value % 100), 2);
        value /= 100;
    }
    if (value >= 10) {
        p -= 2;
        memcpy(p, PAIRS + 2 * value, 2);
    } else {
        *--p = (char)('0' + value);
    }
    return out + n;
}

/* pandas' rule (its ujson encoder): the fraction (|v| - trunc|v|) * 1e10 rounded half
 * to even except that a tie at frac == 0 rounds up, trailing zeros dropped, "-" kept
 * for negatives that round to zero. Returns NULL for values pandas writes in exponent
 * form (|v| > 1e16 or 0 < |v| < 1e-15): the caller formats those frames in Python. */
static char *write_pandas_double(char *out, double v) {
    if (isnan(v) || isinf(v)) {
        memcpy(out, "null", 4);
        return out + 4;
    }
    int negative = v < 0;
    double a = negative ? -v : v;
    if (a > 1e16 || (a != 0.0 && a < 1e-15)) {
        return NULL;
    }
    uint64_t whole = (uint64_t)a;
    double tmp = (a - (double)whole) * 1e10;
    uint64_t frac = (uint64_t)tmp;
    double diff = tmp - (double)frac;
    frac += (uint64_t)((diff > 0.5) | ((diff == 0.5) & ((frac == 0) | (int)(frac & 1))));
    if (frac >= 10000000000ULL) {
        frac = 0;
        whole++;
    }
    if (negative) *out++ = '-';
    out = write_u64(out, whole);
    *out++ = '.';
    if (frac == 0) {
        *out++ = '0';
        return out;
    }
    /* ten digits, zero-padded, as five pairs */
    unsigned head = (unsigned)(frac / 100000000ULL);
    uint32_t rest = (uint32_t)(frac % 100000000ULL);
    /* written in place (the buffer has room for all ten), then trailing zeros dropped */
    memcpy(out, PAIRS + 2 * head, 2);
    memcpy(out + 2, PAIRS + 2 * (rest / 1000000), 2);
    memcpy(out + 4, PAIRS + 2 * ((rest / 10000) % 100), 2);
    memcpy(out + 6, PAIRS + 2 * ((rest / 100) % 100), 2);
    memcpy(out + 8, PAIRS + 2 * (rest % 100), 2);
    int len = 10;
    while (out[len - 1] == '0') len--;
    return out + len;
}

static char *write_i64(char *out, int64_t v) {
    if (v < 0) {
        *out++ = '-';
        return write_u64(out, (uint64_t)0 - (uint64_t)v);
    }
    return write_u64(out, (uint64_t)v);
}

typedef struct {
    char kind; /* 'f' float64, 'i' int64, 'b' bool (one byte), 'p' pre-rendered pieces */
    Py_ssize_t width;
    Py_buffer view;
    PyObject *pieces; /* 'p': a list of nrows bytes, borrowed */
} Block;

static void release_blocks(Block *blocks, Py_ssize_t n) {
    for (Py_ssize_t b = 0; b < n; b++) {
        if (blocks[b].view.obj != NULL) PyBuffer_Release(&blocks[b].view);
    }
    PyMem_Free(blocks);
}

/* format_rows(blocks, nrows) -> bytes or None
 * blocks: list of (kind, C-contiguous array of shape (nrows, width), width), in column
 * order; kind 'p' takes instead a list of one pre-rendered bytes per row (width 1). Returns b"[[...],[...]]" as pandas writes the split "data", or None when a
 * float needs pandas' exponent form. */
static PyObject *format_rows(PyObject *self, PyObject *args) {
    PyObject *specs;
    Py_ssize_t nrows;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &specs, &nrows)) return NULL;
    Py_ssize_t nblocks = PyList_GET_SIZE(specs);
    if (nrows < 0 || nblocks < 1) {
        PyErr_SetString(PyExc_ValueError, "format_rows needs rows >= 0 and at least one block");
        return NULL;
    }
    Block *blocks = PyMem_Calloc((size_t)nblocks, sizeof(Block));
    if (blocks == NULL) return PyErr_NoMemory();
    PyObject *result = NULL;
    Py_ssize_t per_row = 2;
    Py_ssize_t per_row_pieces = 0; /* total bytes of all 'p' pieces */
    for (Py_ssize_t b = 0; b < nblocks; b++) {
        PyObject *spec = PyList_GET_ITEM(specs, b);
        const char *kind;
        PyObject *array;
        Py_ssize_t width;
        if (!PyArg_ParseTuple(spec, "sOn", &kind, &array, &width)) goto fail;
        if (kind[0] == 'p') {
            /* a column rendered in Python (strings, NaT, ...): one bytes object per row */
            if (!PyList_Check(array) || PyList_GET_SIZE(array) != nrows || width != 1) {
                PyErr_SetString(PyExc_ValueError, "format_rows: pieces must be one bytes per row");
                goto fail;
            }
            for (Py_ssize_t r = 0; r < nrows; r++) {
                PyObject *piece = PyList_GET_ITEM(array, r);
                if (!PyBytes_Check(piece)) {
                    PyErr_SetString(PyExc_TypeError, "format_rows: pieces must be bytes");
                    goto fail;
                }
                per_row_pieces += PyBytes_GET_SIZE(piece) + 1;
            }
            blocks[b].kind = 'p';
            blocks[b].width = 1;
            blocks[b].pieces = array;
            continue;
        }
        if (PyObject_GetBuffer(array, &blocks[b].view, PyBUF_C_CONTIGUOUS) < 0) goto fail;
        blocks[b].kind = kind[0];
        blocks[b].width = width;
        Py_ssize_t item = kind[0] == 'b' ? 1 : 8;
        if ((kind[0] != 'f' && kind[0] != 'i' && kind[0] != 'b') || width < 1 ||
            blocks[b].view.len != nrows * width * item) {
            PyErr_SetString(PyExc_ValueError, "format_rows: a block's kind or size is wrong");
            goto fail;
        }
        per_row += width * (kind[0] == 'f' ? 30 : 21);
    }
    Py_ssize_t capacity = 2 + nrows * per_row + per_row_pieces;
    result = PyBytes_FromStringAndSize(NULL, capacity);
    if (result == NULL) goto fail;
    char *start = PyBytes_AS_STRING(result);
    char *out = start;
    *out++ = '[';
    for (Py_ssize_t r = 0; r < nrows; r++) {
        if (r) *out++ = ',';
        *out++ = '[';
        int first = 1;
        for (Py_ssize_t b = 0; b < nblocks; b++) {
            Block *blk = &blocks[b];
            for (Py_ssize_t c = 0; c < blk->width; c++) {
                if (!first) *out++ = ',';
                first = 0;
                Py_ssize_t at = r * blk->width + c;
                if (blk->kind == 'p') {
                    PyObject *piece = PyList_GET_ITEM(blk->pieces, r);
                    Py_ssize_t len = PyBytes_GET_SIZE(piece);
                    memcpy(out, PyBytes_AS_STRING(piece), (size_t)len);
                    out += len;
                } else if (blk->kind == 'f') {
                    out = write_pandas_double(out, ((const double *)blk->view.buf)[at]);
                    if (out == NULL) {
                        Py_CLEAR(result);
                        result = Py_None;
                        Py_INCREF(result);
                        goto done;
                    }
                } else if (blk->kind == 'i') {
                    out = write_i64(out, ((const int64_t *)blk->view.buf)[at]);
                } else if (((const unsigned char *)blk->view.buf)[at]) {
                    memcpy(out, "true", 4);
                    out += 4;
                } else {
                    memcpy(out, "false", 5);
                    out += 5;
                }
            }
        }
        *out++ = ']';
    }
    *out++ = ']';
    if (_PyBytes_Resize(&result, out - start) < 0) goto fail;
done:
    release_blocks(blocks, nblocks);
    return result;
fail:
    Py_XDECREF(result);
    release_blocks(blocks, nblocks);
    return NULL;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(text, start, ncols) -> (packed doubles, nrows, end, token flags) or None"},
    {"format_rows", format_rows, METH_VARARGS,
     "format_rows(blocks, nrows) -> pandas' split 'data' text, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "candlecast._numrows",
    "Parse a JSON array of rows of numbers into packed doubles.", -1, methods,
};

PyMODINIT_FUNC PyInit__numrows(void) { return PyModule_Create(&module); }
