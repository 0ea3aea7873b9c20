/*
 * okx_ingestor._speedups: the per-level loops of the order book in C.
 *
 * Each function here has a pure-Python twin in _levels.py with the same signature and
 * the same results, errors included (tests/test_speedups.py checks them against each
 * other on random input). speedups.py picks this module when it is built and falls back
 * to the Python one otherwise, or when OKX_INGESTOR_PURE_PYTHON is set.
 *
 * Only the CPython C API is used (no other library). The functions take the book's own
 * containers (a sorted list of float keys and a dict key -> level) and never keep a
 * reference to anything after they return.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

/* Skip ASCII digits from *i; 1 if there was at least one. */
static int
skip_digits(const char *p, Py_ssize_t n, Py_ssize_t *i)
{
    Py_ssize_t start = *i;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9')
        (*i)++;
    return *i > start;
}

/* _NUMBER = -?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?, fullmatch, for ASCII digits only. */
static int
ascii_number(const char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (i < n && p[i] == '-')
        i++;
    if (!skip_digits(p, n, &i))
        return 0;
    if (i < n && p[i] == '.') {
        i++;
        if (!skip_digits(p, n, &i))
            return 0;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (!skip_digits(p, n, &i))
            return 0;
    }
    return i == n;
}

/* 1: a number; 0: not; -1: error. Non-ASCII strings (Python's \d matches every Unicode
 * digit) and non-strings are left to the Python fallback, so both agree exactly. */
static int
is_number(PyObject *s, PyObject *fallback)
{
    if (PyUnicode_Check(s) && PyUnicode_IS_ASCII(s)) {
        return ascii_number((const char *)PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s));
    }
    if (!PyUnicode_Check(s))
        return 0;
    PyObject *r = PyObject_CallOneArg(fallback, s);
    if (r == NULL)
        return -1;
    int ok = PyObject_IsTrue(r);
    Py_DECREF(r);
    return ok;
}

/* float(s) for the strings OKX sends (ASCII numbers): PyOS_string_to_double without
 * the copy float() makes to strip whitespace and underscores; anything else: float(). */
static PyObject *
to_float(PyObject *s)
{
    if (PyUnicode_Check(s) && PyUnicode_IS_ASCII(s)) {
        const char *p = (const char *)PyUnicode_DATA(s);
        if (ascii_number(p, PyUnicode_GET_LENGTH(s))) {
            double d = PyOS_string_to_double(p, NULL, NULL);
            if (d == -1.0 && PyErr_Occurred())
                return NULL;
            return PyFloat_FromDouble(d);
        }
    }
    return PyNumber_Float(s);
}

/* float(s) == 0.0 without a float object: 1 zero, 0 not, -1 error. An ASCII number
 * without exponent and of at most 300 characters is zero exactly when every digit is 0
 * (it cannot underflow: its smallest non-zero value is 1e-298). */
static int
is_zero(PyObject *s)
{
    if (PyUnicode_Check(s) && PyUnicode_IS_ASCII(s)) {
        const char *p = (const char *)PyUnicode_DATA(s);
        Py_ssize_t n = PyUnicode_GET_LENGTH(s);
        if (n <= 300 && ascii_number(p, n)) {
            int plain = 1, zero = 1;
            for (Py_ssize_t i = 0; i < n; i++) {
                if (p[i] == 'e' || p[i] == 'E')
                    plain = 0;
                else if (p[i] >= '1' && p[i] <= '9')
                    zero = 0;
            }
            if (plain)
                return zero;
        }
    }
    PyObject *f = PyNumber_Float(s);
    if (f == NULL)
        return -1;
    int zero = PyFloat_AS_DOUBLE(f) == 0.0;
    Py_DECREF(f);
    return zero;
}

PyDoc_STRVAR(levels_ok_doc,
"levels_ok(levels, fallback) -> bool\n\n"
"True when the price and the size of every level match the number grammar.\n"
"fallback(str) -> bool decides strings that are not plain ASCII.");

/* 1 when the price and size of every level are numbers, 0 when not, -1 on error. */
static int
check_levels(PyObject *levels_arg, PyObject *fallback)
{
    PyObject *levels = PySequence_Fast(levels_arg, "levels must be a sequence");
    if (levels == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(levels);
    int result = 1;
    for (Py_ssize_t i = 0; i < n && result == 1; i++) {
        PyObject *level = PySequence_Fast(PySequence_Fast_GET_ITEM(levels, i),
                                          "a level must be a sequence");
        if (level == NULL) {
            result = -1;
            break;
        }
        if (PySequence_Fast_GET_SIZE(level) < 2) {
            result = 0;
        }
        else {
            result = is_number(PySequence_Fast_GET_ITEM(level, 0), fallback);
            if (result == 1)
                result = is_number(PySequence_Fast_GET_ITEM(level, 1), fallback);
        }
        Py_DECREF(level);
    }
    Py_DECREF(levels);
    return result;
}

static PyObject *
levels_ok(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "levels_ok(levels, fallback)");
        return NULL;
    }
    int result = check_levels(args[0], args[1]);
    return result < 0 ? NULL : PyBool_FromLong(result);
}

/* What CPython's own collector does to a tuple that holds only atoms (strings, numbers)
 * the first time a collection sees it (_PyTuple_MaybeUntrack): take it out of the
 * cyclic GC, which can never find a cycle through it. Done here, as levels arrive,
 * so the collections that the decoder's allocations trigger have less to walk. */
static int
untrack_if_atoms(PyObject *t)
{
    if (!PyTuple_CheckExact(t))
        return 0;
    if (!PyObject_GC_IsTracked(t))
        return 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(t); i++) {
        PyObject *item = PyTuple_GET_ITEM(t, i);
        if (!PyUnicode_CheckExact(item) && !PyLong_CheckExact(item)
            && !(PyTuple_CheckExact(item) && !PyObject_GC_IsTracked(item)))
            return 0;
    }
    PyObject_GC_UnTrack(t);
    return 1;
}

PyDoc_STRVAR(untrack_levels_doc,
"untrack_levels(levels) -> None\n\n"
"Take a tuple of level tuples of strings out of the cyclic GC, as CPython's collector\n"
"would at its next pass (immutable, atoms only: no cycle can go through them).");

static void
untrack(PyObject *levels)
{
    if (!PyTuple_CheckExact(levels) || !PyObject_GC_IsTracked(levels))
        return;
    int all = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(levels); i++)
        all &= untrack_if_atoms(PyTuple_GET_ITEM(levels, i));
    if (all)
        PyObject_GC_UnTrack(levels);
}

static PyObject *
untrack_levels(PyObject *self, PyObject *levels)
{
    untrack(levels);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(book_sides_ok_doc,
"book_sides_ok(asks, bids, fallback) -> bool\n\n"
"levels_ok() of both sides of a books push in one call; when both pass, their level\n"
"tuples also leave the cyclic GC (untrack_levels()).");

static PyObject *
book_sides_ok(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "book_sides_ok(asks, bids, fallback)");
        return NULL;
    }
    int result = check_levels(args[0], args[2]);
    if (result == 1)
        result = check_levels(args[1], args[2]);
    if (result < 0)
        return NULL;
    if (result) {
        untrack(args[0]);
        untrack(args[1]);
    }
    return PyBool_FromLong(result);
}

static inline double
key_of(PyObject *o)
{
    return PyFloat_CheckExact(o) ? PyFloat_AS_DOUBLE(o) : PyFloat_AsDouble(o);
}

/* bisect_left / bisect_right over a list of floats. */
static Py_ssize_t
bisect(PyObject *keys, double x, int right)
{
    Py_ssize_t lo = 0, hi = PyList_GET_SIZE(keys);
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        double k = key_of(PyList_GET_ITEM(keys, mid));
        int go_left = right ? x < k : !(k < x);
        if (go_left)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* One level's shared checks. Sets *key (new ref), *old (borrowed or NULL), *zero.
 * Returns 0, or -1 with an exception set. */
static int
read_level(PyObject *book, PyObject *level, PyObject *same_price,
           PyObject **key, PyObject **old, int *zero)
{
    PyObject *seq = PySequence_Fast(level, "a level must be a sequence");
    if (seq == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(seq) < 2) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_IndexError, "a level needs a price and a size");
        return -1;
    }
    PyObject *px = PySequence_Fast_GET_ITEM(seq, 0);
    PyObject *sz = PySequence_Fast_GET_ITEM(seq, 1);
    *key = to_float(px);
    if (*key == NULL)
        goto fail;
    *old = PyDict_GetItemWithError(book, *key);
    if (*old == NULL && PyErr_Occurred())
        goto fail;
    if (*old != NULL) {
        PyObject *old_px = PySequence_GetItem(*old, 0);
        if (old_px == NULL)
            goto fail;
        int differ = PyObject_RichCompareBool(old_px, px, Py_NE);
        if (differ == 1) {
            PyObject *r = PyObject_CallFunctionObjArgs(same_price, old_px, px, NULL);
            differ = r == NULL ? -1 : !PyObject_IsTrue(r);
            Py_XDECREF(r);
            if (differ == 1)
                PyErr_Format(PyExc_ValueError, "prices %R and %R collide as floats",
                             old_px, px);
        }
        Py_DECREF(old_px);
        if (differ != 0)
            goto fail;
    }
    *zero = is_zero(sz);  /* sz == "0" or float(sz) == 0.0 */
    if (*zero < 0)
        goto fail;
    Py_DECREF(seq);
    return 0;
fail:
    Py_XDECREF(*key);
    *key = NULL;
    Py_DECREF(seq);
    return -1;
}

static int
check_finite(PyObject *level, double k)
{
    if (isnan(k) || isinf(k)) {
        PyObject *px = PySequence_GetItem(level, 0);
        PyErr_Format(PyExc_ValueError, "price %R is not finite", px);
        Py_XDECREF(px);
        return -1;
    }
    return 0;
}

/* Every level into one side: set it, or delete it when its size is 0. `keys` (the
 * sorted list of the book's keys) is kept in step when given; NULL (a snapshot into an
 * empty side) leaves the sorting to the caller, once. 0, or -1 with an exception. */
static int
apply_levels(PyObject *keys, PyObject *book, PyObject *levels_arg, PyObject *same_price)
{
    PyObject *levels = PySequence_Fast(levels_arg, "levels must be a sequence");
    if (levels == NULL)
        return -1;
    int rc = 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(levels);
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *level = PySequence_Fast_GET_ITEM(levels, i);
        PyObject *key, *old;
        int zero;
        if (read_level(book, level, same_price, &key, &old, &zero) < 0) {
            rc = -1;
            break;
        }
        double k = PyFloat_AS_DOUBLE(key);
        if (zero) {
            if (old != NULL) {
                rc = PyDict_DelItem(book, key);
                if (rc == 0 && keys != NULL)
                    rc = PySequence_DelItem(keys, bisect(keys, k, 0));
            }
        }
        else {
            if (old == NULL) {
                rc = check_finite(level, k);
                if (rc == 0 && keys != NULL)
                    rc = PyList_Insert(keys, bisect(keys, k, 1), key);
            }
            if (rc == 0)
                rc = PyDict_SetItem(book, key, level);
        }
        Py_DECREF(key);
    }
    Py_DECREF(levels);
    return rc;
}

PyDoc_STRVAR(side_apply_doc,
"side_apply(keys, book, levels, same_price) -> None\n\n"
"Set or delete (size 0) every level in one side of a book: `book` maps float(price)\n"
"to the level, `keys` is the sorted list of book's keys. same_price(a, b) -> bool\n"
"decides whether two price strings that map to one float are the same price.");

static PyObject *
side_apply(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "side_apply(keys: list, book: dict, levels, same_price)");
        return NULL;
    }
    if (apply_levels(args[0], args[1], args[2], args[3]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(side_load_doc,
"side_load(book, levels, same_price) -> list\n\n"
"A whole snapshot into an empty side (side_apply's rules); returns the sorted keys.");

static PyObject *
side_load(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "side_load(book: dict, levels, same_price)");
        return NULL;
    }
    if (apply_levels(NULL, args[0], args[1], args[2]) < 0)
        return NULL;
    PyObject *keys = PyDict_Keys(args[0]);
    if (keys != NULL && PyList_Sort(keys) < 0)
        Py_CLEAR(keys);
    return keys;
}

/* The price and size strings of the level stored under keys[index], as UTF-8. */
static int
level_text(PyObject *keys, PyObject *book, Py_ssize_t index, PyObject **hold,
           const char **px, Py_ssize_t *px_len, const char **sz, Py_ssize_t *sz_len)
{
    PyObject *level = PyDict_GetItemWithError(book, PyList_GET_ITEM(keys, index));
    if (level == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "a key of the side has no level");
        return -1;
    }
    *hold = PySequence_Fast(level, "a level must be a sequence");
    if (*hold == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(*hold) < 2) {
        PyErr_SetString(PyExc_IndexError, "a level needs a price and a size");
        return -1;
    }
    *px = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(*hold, 0), px_len);
    if (*px == NULL)
        return -1;
    *sz = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(*hold, 1), sz_len);
    return *sz == NULL ? -1 : 0;
}

PyDoc_STRVAR(checksum_payload_doc,
"checksum_payload(bid_keys, bids, ask_keys, asks, depth) -> bytes\n\n"
"OKX's checksum string, UTF-8: the best `depth` bids (highest key first) and asks\n"
"(lowest first) interleaved bid, ask, bid, ask..., then the longer side's rest, as\n"
"px:sz joined by ':'. zlib.crc32 of it is the checksum (before the sign).");

static PyObject *
checksum_payload(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyDict_Check(args[1])
        || !PyList_Check(args[2]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "checksum_payload(bid_keys: list, bids: dict, ask_keys: list, "
                        "asks: dict, depth: int)");
        return NULL;
    }
    PyObject *bid_keys = args[0], *bids = args[1], *ask_keys = args[2], *asks = args[3];
    Py_ssize_t depth = PyLong_AsSsize_t(args[4]);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    if (depth < 0)
        depth = 0;
    Py_ssize_t nb = Py_MIN(depth, PyList_GET_SIZE(bid_keys));
    Py_ssize_t na = Py_MIN(depth, PyList_GET_SIZE(ask_keys));
    Py_ssize_t total = nb + na, count = 0, size = 0;
    PyObject **hold = PyMem_Calloc(total ? total : 1, sizeof(PyObject *));
    const char **text = PyMem_Calloc(2 * (total ? total : 1), sizeof(char *));
    Py_ssize_t *len = PyMem_Calloc(2 * (total ? total : 1), sizeof(Py_ssize_t));
    PyObject *out = NULL;
    if (hold == NULL || text == NULL || len == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t last_bid = PyList_GET_SIZE(bid_keys) - 1;
    for (Py_ssize_t i = 0; i < Py_MAX(nb, na); i++) {
        if (i < nb) {
            if (level_text(bid_keys, bids, last_bid - i, &hold[count], &text[2 * count],
                           &len[2 * count], &text[2 * count + 1], &len[2 * count + 1]) < 0)
                goto done;
            count++;
        }
        if (i < na) {
            if (level_text(ask_keys, asks, i, &hold[count], &text[2 * count],
                           &len[2 * count], &text[2 * count + 1], &len[2 * count + 1]) < 0)
                goto done;
            count++;
        }
    }
    for (Py_ssize_t j = 0; j < 2 * count; j++)
        size += len[j] + 1;
    out = PyBytes_FromStringAndSize(NULL, size ? size - 1 : 0);
    if (out == NULL)
        goto done;
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t j = 0; j < 2 * count; j++) {
        if (j)
            *w++ = ':';
        memcpy(w, text[j], len[j]);
        w += len[j];
    }
done:
    if (hold != NULL) {
        for (Py_ssize_t j = 0; j < total; j++)
            Py_XDECREF(hold[j]);
    }
    PyMem_Free(hold);
    PyMem_Free(text);
    PyMem_Free(len);
    if (PyErr_Occurred())
        Py_CLEAR(out);
    return out;
}

static PyMethodDef methods[] = {
    {"levels_ok", (PyCFunction)(void (*)(void))levels_ok, METH_FASTCALL, levels_ok_doc},
    {"untrack_levels", (PyCFunction)untrack_levels, METH_O, untrack_levels_doc},
    {"book_sides_ok", (PyCFunction)(void (*)(void))book_sides_ok, METH_FASTCALL,
     book_sides_ok_doc},
    {"side_apply", (PyCFunction)(void (*)(void))side_apply, METH_FASTCALL, side_apply_doc},
    {"side_load", (PyCFunction)(void (*)(void))side_load, METH_FASTCALL, side_load_doc},
    {"checksum_payload", (PyCFunction)(void (*)(void))checksum_payload, METH_FASTCALL,
     checksum_payload_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups",
    "The order book's per-level loops in C (pure-Python twin: _levels.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
