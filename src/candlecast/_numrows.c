/*
 * candlecast._numrows: parse a JSON array of rows of numbers into packed doubles.
 *
 * parse(text, start, ncols) reads, from text[start:], a JSON value of the form
 *     [[n, n, ...], [n, n, ...], ...]
 * where every n is a JSON number or null (null becomes NaN), every row has exactly
 * ncols values, and optional JSON whitespace appears between tokens. It returns
 * (data, nrows, end): data holds nrows * ncols native doubles in row order, end is the
 * offset just after the closing bracket. For anything else (a string, true/false, a
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

/* Parse one JSON number or null at c->p. Return 0 on success, -1 if not a number. */
static int parse_value(Cursor *c, double *out) {
    const char *start = c->p;
    const char *p = c->p;
    const char *end = c->end;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        c->p = p + 4;
        *out = Py_NAN;
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
    size_t capacity = 4096;
    size_t count = 0;
    double *values = PyMem_Malloc(capacity * sizeof(double));
    if (values == NULL) {
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
                    return PyErr_NoMemory();
                }
                values = grown;
            }
            int status = parse_value(&c, &values[count]);
            if (status == -2) {
                PyMem_Free(values);
                return NULL;
            }
            if (status != 0) goto not_ours;
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
        return NULL;
    }
    return Py_BuildValue("(Nnn)", packed, nrows, (Py_ssize_t)(c.p - data));
not_ours:
    PyMem_Free(values);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(text, start, ncols) -> (packed doubles, nrows, end) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "candlecast._numrows",
    "Parse a JSON array of rows of numbers into packed doubles.", -1, methods,
};

PyMODINIT_FUNC PyInit__numrows(void) { return PyModule_Create(&module); }
