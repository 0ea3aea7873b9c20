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

/* Skip ASCII digits from *i; 1 if there were between 1 and `most` of them. */
static int
skip_digits(const char *p, Py_ssize_t n, Py_ssize_t *i, Py_ssize_t most)
{
    Py_ssize_t start = *i;
    while (*i < n && p[*i] >= '0' && p[*i] <= '9')
        (*i)++;
    return *i > start && *i - start <= most;
}

/* validate.DECIMAL = [0-9]{1,20}(?:\.[0-9]{1,18})?, fullmatch: what Decimal(38, 18)
 * holds, ASCII only, no sign, no exponent. */
static int
ascii_number(const char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    if (!skip_digits(p, n, &i, 20))
        return 0;
    if (i < n && p[i] == '.') {
        i++;
        if (!skip_digits(p, n, &i, 18))
            return 0;
    }
    return i == n;
}

/* validate.uint_text: an exact ASCII str of digits whose value is at most `max`
 * (given as its decimal text, e.g. "4294967295"). */
static int
ascii_uint(PyObject *s, const char *max)
{
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), m = (Py_ssize_t)strlen(max);
    const char *p = (const char *)PyUnicode_DATA(s);
    if (n == 0 || n > m)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return n < m || memcmp(p, max, (size_t)n) <= 0;
}

static const char UINT64_MAX_TEXT[] = "18446744073709551615", UINT32_MAX_TEXT[] = "4294967295",
                  UINT8_MAX_TEXT[] = "255";

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
"True when the price and the size of every level match the number grammar\n"
"(validate.DECIMAL) and numOrders, when there, is a UInt32.\n"
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
            if (result == 1 && PySequence_Fast_GET_SIZE(level) > 3)  /* numOrders: UInt32 */
                result = ascii_uint(PySequence_Fast_GET_ITEM(level, 3), UINT32_MAX_TEXT);
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
        PyObject *old_px = PyTuple_CheckExact(*old) && PyTuple_GET_SIZE(*old) > 0
                               ? Py_NewRef(PyTuple_GET_ITEM(*old, 0))
                               : PySequence_GetItem(*old, 0);
        if (old_px == NULL)
            goto fail;
        int differ = old_px == px ? 0 : PyObject_RichCompareBool(old_px, px, Py_NE);
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

static PyObject *payload_of(PyObject *bid_keys, PyObject *bids, PyObject *ask_keys,
                            PyObject *asks, Py_ssize_t depth);

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
    Py_ssize_t depth = PyLong_AsSsize_t(args[4]);
    if (depth == -1 && PyErr_Occurred())
        return NULL;
    return payload_of(args[0], args[1], args[2], args[3], depth < 0 ? 0 : depth);
}

static PyObject *
payload_of(PyObject *bid_keys, PyObject *bids, PyObject *ask_keys, PyObject *asks,
           Py_ssize_t depth)
{
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

/* ---- Whole pushes: the common case of a books update, a trade, a ticker ------------
 *
 * These do, for the usual push, what the pipeline's Python fast path does (pipeline.py
 * _fast_books, _fast_trades, _ticker_row), with the same checks, state changes, rows
 * and counters. Anything unusual - a heartbeat, a reset, a gap, a duplicate, a non-ASCII
 * string, a field that fails a check - is declined before any state changes, and the
 * Python code then handles the push as it does without this module. So the Python code
 * is the twin of these functions: tests/test_pipeline_fast.py runs one stream
 * through the pipeline with and without them and compares every row and counter. */

static PyObject *zlib_crc32, *invalid_operation, *deque_type, *str_update, *str_zero,
    *str_buy, *str_sell, *int_zero, *int_one;

enum {
    N_seqId, N_prevSeqId, N_ts, N_asks, N_bids, N_checksum, N_last_seq_id, N_last_ts,
    N_counters, N_updates, N_checksum_ok, N_checksum_skipped, N_checksum_failures,
    N_bad_levels, N_drop, N__bids, N__asks, N__keys, N__levels, N_verify_checksum,
    N_last_top, N_data_messages, N_by_stream, N_last_exchange_ts, N_duplicate_trades,
    N_tradeId, N_px, N_sz, N_side, N_count, N_source, N_instId, N_instType, N_last,
    N_lastSz, N_bidPx, N_bidSz, N_askPx, N_askSz, N_open24h, N_high24h, N_low24h,
    N_vol24h, N_volCcy24h, N_append, N_popleft, N_event, N_arg, N_data, N_channel, N_action,
    N_state, N_COUNT
};
static const char *const name_text[N_COUNT] = {
    "seqId", "prevSeqId", "ts", "asks", "bids", "checksum", "last_seq_id", "last_ts",
    "counters", "updates", "checksum_ok", "checksum_skipped", "checksum_failures",
    "bad_levels", "drop", "_bids", "_asks", "_keys", "_levels", "verify_checksum",
    "last_top", "data_messages", "by_stream", "last_exchange_ts", "duplicate_trades",
    "tradeId", "px", "sz", "side", "count", "source", "instId", "instType", "last",
    "lastSz", "bidPx", "bidSz", "askPx", "askSz", "open24h", "high24h", "low24h",
    "vol24h", "volCcy24h", "append", "popleft", "event", "arg", "data", "channel", "action",
    "state",
};
static PyObject *names[N_COUNT];
#define NAME(n) names[N_##n]

/* An exact str of ASCII digits, at least one (str.isdecimal() for ASCII). */
static int
ascii_decimal(PyObject *s)
{
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s) || PyUnicode_GET_LENGTH(s) == 0)
        return 0;
    const char *p = (const char *)PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(s); i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* An exact ASCII str that matches the number grammar. */
static int
ascii_number_str(PyObject *s)
{
    return PyUnicode_CheckExact(s) && PyUnicode_IS_ASCII(s)
           && ascii_number((const char *)PyUnicode_DATA(s), PyUnicode_GET_LENGTH(s));
}

/* Every level a tuple whose price and size are ASCII numbers (decode()'s _levels()
 * check; non-ASCII strings are left to the Python path, which decides them). */
static int
ascii_levels_ok(PyObject *levels)
{
    if (!PyTuple_CheckExact(levels))
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(levels); i++) {
        PyObject *level = PyTuple_GET_ITEM(levels, i);
        if (!PyTuple_CheckExact(level) || PyTuple_GET_SIZE(level) < 2
            || !ascii_number_str(PyTuple_GET_ITEM(level, 0))
            || !ascii_number_str(PyTuple_GET_ITEM(level, 1))
            || (PyTuple_GET_SIZE(level) > 3
                && !ascii_uint(PyTuple_GET_ITEM(level, 3), UINT32_MAX_TEXT)))
            return 0;
    }
    return 1;
}

/* int(s) of a decimal ASCII str. NULL without an exception (declined: the Python
 * path decides) when int() refuses it: more digits than sys.get_int_max_str_digits(). */
static PyObject *
decimal_int(PyObject *s)
{
    PyObject *v = PyLong_FromUnicodeObject(s, 10);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_ValueError))
        PyErr_Clear();
    return v;
}

/* An exchange timestamp as validate.ms_of takes it (an ASCII decimal str of at most 13
 * digits, or an int) inside `limits` (validate.TS_LIMITS: [lowest, highest so far]).
 * New ref, or NULL without an exception when the Python path should decide (outside
 * the limits it moves the upper end to the wall clock and decides). */
static PyObject *
timestamp_of(PyObject *ts, PyObject *limits)
{
    PyObject *v;
    if (PyUnicode_CheckExact(ts)) {
        if (PyUnicode_GET_LENGTH(ts) > 13 || !ascii_decimal(ts))
            return NULL;
        v = decimal_int(ts);
        if (v == NULL)
            return NULL;
    }
    else if (PyLong_CheckExact(ts))
        v = Py_NewRef(ts);
    else
        return NULL;
    if (!PyList_CheckExact(limits) || PyList_GET_SIZE(limits) != 2) {
        Py_DECREF(v);
        return NULL;
    }
    int o1, o2, o3;
    long long x = PyLong_AsLongLongAndOverflow(v, &o1);
    long long lo = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(limits, 0), &o2);
    long long hi = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(limits, 1), &o3);
    if (PyErr_Occurred())
        PyErr_Clear();  /* not ints: the Python path decides */
    else if (!o1 && !o2 && !o3 && lo <= x && x <= hi)
        return v;
    Py_DECREF(v);
    return NULL;
}

/* A data item's own instId (a str, or UNSET when it has none) is the push's. */
static int
same_inst(PyObject *own, PyObject *inst_id)
{
    return !PyUnicode_CheckExact(own) || own == inst_id || PyUnicode_Compare(own, inst_id) == 0;
}

/* obj.name += 1 */
static int
add_one(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    PyObject *w = PyNumber_Add(v, int_one);
    Py_DECREF(v);
    if (w == NULL)
        return -1;
    int rc = PyObject_SetAttr(obj, name, w);
    Py_DECREF(w);
    return rc;
}

/* PipelineStats.count(key), and stats.last_exchange_ts = ts unless ts is NULL. */
static int
count_stream(PyObject *stats, PyObject *key, PyObject *ts)
{
    if (add_one(stats, NAME(data_messages)) < 0)
        return -1;
    PyObject *by_stream = PyObject_GetAttr(stats, NAME(by_stream));
    if (by_stream == NULL)
        return -1;
    int rc = -1;
    PyObject *n = NULL;
    if (!PyDict_Check(by_stream)) {
        PyErr_SetString(PyExc_TypeError, "stats.by_stream must be a dict");
        goto done;
    }
    PyObject *old = PyDict_GetItemWithError(by_stream, key);
    if (old == NULL && PyErr_Occurred())
        goto done;
    n = PyNumber_Add(old == NULL ? int_zero : old, int_one);
    if (n == NULL || PyDict_SetItem(by_stream, key, n) < 0)
        goto done;
    rc = ts == NULL ? 0 : PyObject_SetAttr(stats, NAME(last_exchange_ts), ts);
done:
    Py_XDECREF(n);
    Py_DECREF(by_stream);
    return rc;
}

/* emit(table, row), stealing the reference to row. */
static int
emit_row(PyObject *emit, PyObject *table, PyObject *row)
{
    if (row == NULL)
        return -1;
    PyObject *call_args[2] = {table, row};
    PyObject *r = PyObject_Vectorcall(emit, call_args, 2, NULL);
    Py_DECREF(row);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* A side of the book (_Side): its sorted keys and its key -> level dict (new refs). */
static int
side_parts(PyObject *book, PyObject *name, PyObject **keys, PyObject **levels)
{
    PyObject *side = PyObject_GetAttr(book, name);
    if (side == NULL)
        return -1;
    *keys = PyObject_GetAttr(side, NAME(_keys));
    *levels = *keys == NULL ? NULL : PyObject_GetAttr(side, NAME(_levels));
    Py_DECREF(side);
    if (*levels == NULL || !PyList_Check(*keys) || !PyDict_Check(*levels)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a book side needs a _keys list and a _levels dict");
        Py_CLEAR(*keys);
        Py_CLEAR(*levels);
        return -1;
    }
    return 0;
}

/* The best level of a side, as L2Book.top_of_book() reads it (borrowed refs). */
static int
best_of(PyObject *keys, PyObject *levels, int bids, PyObject **px, PyObject **sz)
{
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (n == 0) {
        *px = *sz = str_zero;
        return 0;
    }
    PyObject *level = PyDict_GetItemWithError(levels, PyList_GET_ITEM(keys, bids ? n - 1 : 0));
    /* A tuple from the fast decoder, a list from decode() or a REST snapshot. */
    if (level == NULL || !(PyTuple_Check(level) || PyList_Check(level))
        || PySequence_Fast_GET_SIZE(level) < 2) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "the best key of a side has no [px, sz] level");
        return -1;
    }
    *px = PySequence_Fast_GET_ITEM(level, 0);
    *sz = PySequence_Fast_GET_ITEM(level, 1);
    return 0;
}

/* The bbo row when the top of the book changed (pipeline._fast_books, inlined there). */
static int
emit_top(PyObject *book, PyObject *bk, PyObject *bl, PyObject *ak, PyObject *al,
         PyObject *inst_id, PyObject *channel, PyObject *ts, PyObject *seq,
         PyObject *received_us, PyObject *emit, PyObject *t_bbo)
{
    PyObject *top[4];
    if (best_of(bk, bl, 1, &top[0], &top[1]) < 0 || best_of(ak, al, 0, &top[2], &top[3]) < 0)
        return -1;
    PyObject *last_top = PyObject_GetAttr(book, NAME(last_top));
    if (last_top == NULL)
        return -1;
    int same = PyTuple_CheckExact(last_top) && PyTuple_GET_SIZE(last_top) == 4;
    for (int i = 0; i < 4 && same == 1; i++)
        same = PyObject_RichCompareBool(PyTuple_GET_ITEM(last_top, i), top[i], Py_EQ);
    Py_DECREF(last_top);
    if (same != 0)
        return same < 0 ? -1 : 0;
    PyObject *new_top = PyTuple_Pack(4, top[0], top[1], top[2], top[3]);
    if (new_top == NULL)
        return -1;
    int rc = PyObject_SetAttr(book, NAME(last_top), new_top);
    Py_DECREF(new_top);
    if (rc < 0)
        return -1;
    return emit_row(emit, t_bbo, PyTuple_Pack(11, inst_id, ts, seq, top[0], top[1], int_zero,
                                              top[2], top[3], int_zero, received_us, channel));
}

/* Count a bad level or a checksum failure on the book and drop it (L2Book.update). */
static int
drop_book(PyObject *book, PyObject *counters, PyObject *counter)
{
    if (add_one(counters, counter) < 0)
        return -1;
    PyObject *r = PyObject_CallMethodNoArgs(book, NAME(drop));
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* 1 when the stored top 25 of the book match OKX's checksum, 0 when not, -1 error. */
static int
checksum_matches(PyObject *bk, PyObject *bl, PyObject *ak, PyObject *al, PyObject *expected)
{
    PyObject *payload = payload_of(bk, bl, ak, al, 25);
    if (payload == NULL)
        return -1;
    PyObject *crc = PyObject_CallOneArg(zlib_crc32, payload);
    Py_DECREF(payload);
    if (crc == NULL)
        return -1;
    unsigned long u = PyLong_AsUnsignedLong(crc);
    Py_DECREF(crc);
    if (u == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    long long signed_crc = u >= (1UL << 31) ? (long long)u - (1LL << 32) : (long long)u;
    int overflow;
    long long want = PyLong_AsLongLongAndOverflow(expected, &overflow);
    if (want == -1 && PyErr_Occurred())
        return -1;
    return !overflow && want == signed_crc;
}

/* push()'s results. */
enum { PUSH_DECLINED = 0, PUSH_DONE = 1, PUSH_BAD_LEVEL = 2, PUSH_CHECKSUM_FAILED = 3 };

/* A level's failure that L2Book.update counts as a bad level (any other error, such as
 * MemoryError, propagates as it does there). */
static int
is_bad_level_error(void)
{
    return PyErr_ExceptionMatches(invalid_operation) || PyErr_ExceptionMatches(PyExc_ValueError)
           || PyErr_ExceptionMatches(PyExc_IndexError) || PyErr_ExceptionMatches(PyExc_TypeError);
}

/* push()'s context, made once per Pipeline (Pipeline._push_context). */
enum { CTX_BOOKS, CTX_LIVE, CTX_STATS, CTX_RECENT, CTX_EMIT, CTX_BOOK_LEVELS, CTX_T_BOOK,
       CTX_T_BBO, CTX_T_TICKS, CTX_T_TICKERS, CTX_SAME_PRICE, CTX_TS_LIMITS, CTX_INST_IDS,
       CTX_SIZE };
#define CTX(i) PyTuple_GET_ITEM(ctx, CTX_##i)

/* One books `update` push of one item `d` for a LIVE book (pipeline._fast_books). */
static int
book_push(PyObject *ctx, PyObject *book, PyObject *d, PyObject *key, PyObject *channel,
          PyObject *inst_id, PyObject *received_us)
{
    PyObject *stats = CTX(STATS), *emit = CTX(EMIT), *t_book = CTX(T_BOOK),
             *t_bbo = CTX(T_BBO), *same_price = CTX(SAME_PRICE);
    int book_levels = PyObject_IsTrue(CTX(BOOK_LEVELS));
    if (book_levels < 0)
        return -1;
    int code = PUSH_DECLINED, failed = 0;
    PyObject *seq = NULL, *prev = NULL, *last = NULL, *raw_ts = NULL, *ts = NULL,
             *asks = NULL, *bids = NULL, *checksum = NULL, *counters = NULL, *bk = NULL,
             *bl = NULL, *ak = NULL, *al = NULL, *own = NULL;
    seq = PyObject_GetAttr(d, NAME(seqId));
    prev = seq ? PyObject_GetAttr(d, NAME(prevSeqId)) : NULL;
    last = prev ? PyObject_GetAttr(book, NAME(last_seq_id)) : NULL;
    raw_ts = last ? PyObject_GetAttr(d, NAME(ts)) : NULL;
    asks = raw_ts ? PyObject_GetAttr(d, NAME(asks)) : NULL;
    bids = asks ? PyObject_GetAttr(d, NAME(bids)) : NULL;
    checksum = bids ? PyObject_GetAttr(d, NAME(checksum)) : NULL;
    own = checksum ? PyObject_GetAttr(d, NAME(instId)) : NULL;
    if (own == NULL)
        goto error;
    if (!same_inst(own, inst_id))
        goto done;
    if (!PyLong_CheckExact(seq) || !PyLong_CheckExact(prev) || !PyLong_CheckExact(last)
        || !PyLong_CheckExact(checksum))
        goto done;
    int o1, o2, o3;
    long long s = PyLong_AsLongLongAndOverflow(seq, &o1);
    long long p = PyLong_AsLongLongAndOverflow(prev, &o2);
    long long l = PyLong_AsLongLongAndOverflow(last, &o3);
    if (PyErr_Occurred())
        goto error;
    if (o1 || o2 || o3 || p != l || p == -1 || s <= p)
        goto done;  /* a gap, a duplicate, a heartbeat, a reset: the Python path */
    ts = timestamp_of(raw_ts, CTX(TS_LIMITS));
    if (ts == NULL) {
        if (PyErr_Occurred())
            goto error;
        goto done;
    }
    if (!ascii_levels_ok(asks) || !ascii_levels_ok(bids))
        goto done;
    /* Checked: from here on, as the Python path does. */
    untrack(asks);
    untrack(bids);
    if (count_stream(stats, key, ts) < 0)
        goto error;
    counters = PyObject_GetAttr(book, NAME(counters));
    if (counters == NULL || add_one(counters, NAME(updates)) < 0)
        goto error;
    if (side_parts(book, NAME(_bids), &bk, &bl) < 0 || side_parts(book, NAME(_asks), &ak, &al) < 0)
        goto error;
    if ((PyTuple_GET_SIZE(bids) && apply_levels(bk, bl, bids, same_price) < 0)
        || (PyTuple_GET_SIZE(asks) && apply_levels(ak, al, asks, same_price) < 0)) {
        if (!is_bad_level_error())
            goto error;
        PyErr_Clear();
        code = PUSH_BAD_LEVEL;
        if (drop_book(book, counters, NAME(bad_levels)) < 0)
            goto error;
        goto done;
    }
    if (PyObject_SetAttr(book, NAME(last_seq_id), seq) < 0
        || PyObject_SetAttr(book, NAME(last_ts), ts) < 0)
        goto error;
    int verify = PyObject_IsTrue(checksum);  /* `if checksum and self.verify_checksum` */
    if (verify == 1) {
        PyObject *v = PyObject_GetAttr(book, NAME(verify_checksum));
        verify = v == NULL ? -1 : PyObject_IsTrue(v);
        Py_XDECREF(v);
    }
    if (verify < 0)
        goto error;
    if (verify) {
        int ok = checksum_matches(bk, bl, ak, al, checksum);
        if (ok < 0)
            goto error;
        if (!ok) {
            code = PUSH_CHECKSUM_FAILED;
            if (drop_book(book, counters, NAME(checksum_failures)) < 0)
                goto error;
            goto done;
        }
        if (add_one(counters, NAME(checksum_ok)) < 0)
            goto error;
    }
    else if (add_one(counters, NAME(checksum_skipped)) < 0)
        goto error;
    if (book_levels
        && emit_row(emit, t_book, PyTuple_Pack(10, inst_id, channel, str_update, ts, seq, prev,
                                               checksum, bids, asks, received_us)) < 0)
        goto error;
    if (emit_top(book, bk, bl, ak, al, inst_id, channel, ts, seq, received_us, emit, t_bbo) < 0)
        goto error;
    code = PUSH_DONE;
    goto done;
error:
    failed = 1;
done:
    Py_XDECREF(seq);
    Py_XDECREF(prev);
    Py_XDECREF(last);
    Py_XDECREF(raw_ts);
    Py_XDECREF(ts);
    Py_XDECREF(asks);
    Py_XDECREF(bids);
    Py_XDECREF(checksum);
    Py_XDECREF(counters);
    Py_XDECREF(bk);
    Py_XDECREF(bl);
    Py_XDECREF(ak);
    Py_XDECREF(al);
    Py_XDECREF(own);
    return failed ? -1 : code;
}

/* A trade's integer field as _trade_row takes it: None -> `none`, an int as it is (the
 * decoder bounds it), a decimal ASCII str of at most `max` -> int. New ref, or NULL
 * without an exception to decline. */
static PyObject *
trade_int(PyObject *v, PyObject *none, const char *max)
{
    if (v == Py_None)
        return Py_NewRef(none);
    if (PyLong_CheckExact(v))
        return Py_NewRef(v);
    if (ascii_uint(v, max))
        return decimal_int(v);
    return NULL;
}


/* The raw_ticks row of one trade after _trade_row's checks (new ref), or NULL: with an
 * exception set on error, without one to decline. *tid_out and *ts_out get the tradeId
 * string and the timestamp (new refs) with a row. */
static PyObject *
trade_row_of(PyObject *d, PyObject *inst_id, PyObject *received_us, PyObject *limits,
             PyObject **tid_out, PyObject **ts_out)
{
    PyObject *f[9] = {NULL};  /* tradeId px sz side ts count source instId seqId */
    static const int which[9] = {N_tradeId, N_px, N_sz, N_side, N_ts, N_count, N_source,
                                 N_instId, N_seqId};
    PyObject *row = NULL, *tid = NULL, *ts = NULL, *count = NULL, *source = NULL;
    for (int i = 0; i < 9; i++) {
        f[i] = PyObject_GetAttr(d, names[which[i]]);
        if (f[i] == NULL)
            goto done;
    }
    PyObject *side = f[3];
    if (!ascii_uint(f[0], UINT64_MAX_TEXT) || !ascii_number_str(f[1])
        || !ascii_number_str(f[2]) || !PyUnicode_CheckExact(side)
        || !(PyUnicode_Compare(side, str_buy) == 0 || PyUnicode_Compare(side, str_sell) == 0)
        || !PyUnicode_CheckExact(f[4]) || !same_inst(f[7], inst_id))
        goto done;
    count = trade_int(f[5], int_one, UINT32_MAX_TEXT);
    source = count ? trade_int(f[6], int_zero, UINT8_MAX_TEXT) : NULL;
    if (source == NULL)
        goto done;  /* declined, or an error */
    if (PyObject_Not(source) == 1)
        Py_SETREF(source, Py_NewRef(int_zero));  /* `source or 0` */
    tid = decimal_int(f[0]);
    ts = tid ? timestamp_of(f[4], limits) : NULL;
    if (ts == NULL)
        goto done;
    PyObject *seq = f[8] == Py_None ? int_zero : f[8];
    row = PyTuple_Pack(10, inst_id, tid, ts, f[1], f[2], side, count, source, seq,
                       received_us);
    if (row != NULL) {
        *tid_out = Py_NewRef(f[0]);
        *ts_out = Py_NewRef(ts);
    }
done:
    Py_XDECREF(tid);
    Py_XDECREF(ts);
    Py_XDECREF(count);
    Py_XDECREF(source);
    for (int i = 0; i < 9; i++)
        Py_XDECREF(f[i]);
    return row;
}

/* The stream's recent tradeIds (Pipeline._recent_trade_ids): borrowed refs. */
static int
recent_ids(PyObject *recent, PyObject *key, PyObject **ids, PyObject **order)
{
    if (!PyDict_Check(recent)) {
        PyErr_SetString(PyExc_TypeError, "recent tradeIds must be a dict");
        return -1;
    }
    PyObject *seen = PyDict_GetItemWithError(recent, key);
    if (seen == NULL && !PyErr_Occurred()) {
        PyObject *new_ids = PyDict_New();
        PyObject *new_order = new_ids ? PyObject_CallNoArgs(deque_type) : NULL;
        seen = new_order ? PyTuple_Pack(2, new_ids, new_order) : NULL;
        Py_XDECREF(new_ids);
        Py_XDECREF(new_order);
        if (seen != NULL) {
            int rc = PyDict_SetItem(recent, key, seen);
            Py_DECREF(seen);  /* the dict holds it */
            if (rc < 0)
                seen = NULL;
        }
    }
    if (seen == NULL)
        return -1;
    if (!PyTuple_Check(seen) || PyTuple_GET_SIZE(seen) != 2
        || !PyDict_Check(PyTuple_GET_ITEM(seen, 0))) {
        PyErr_SetString(PyExc_TypeError, "recent tradeIds must be (dict, deque)");
        return -1;
    }
    *ids = PyTuple_GET_ITEM(seen, 0);
    *order = PyTuple_GET_ITEM(seen, 1);
    return 0;
}

/* pipeline._remember_trade: keep the last 1024 tradeIds of a stream. */
static int
remember_trade(PyObject *ids, PyObject *order, PyObject *tid)
{
    if (PyDict_SetItem(ids, tid, Py_None) < 0)
        return -1;
    PyObject *r = PyObject_CallMethodOneArg(order, NAME(append), tid);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    Py_ssize_t n = PyObject_Length(order);
    if (n < 0)
        return -1;
    if (n <= 1024)
        return 0;
    PyObject *old = PyObject_CallMethodNoArgs(order, NAME(popleft));
    if (old == NULL)
        return -1;
    int rc = PyDict_DelItem(ids, old);
    Py_DECREF(old);
    return rc;
}

/* A trades push of the one trade `d` (pipeline._fast_trades): checks it, counts the
 * stream, drops a tradeId seen among the stream's last 1024, emits the raw_ticks row. */
static int
trade_push(PyObject *ctx, PyObject *d, PyObject *key, PyObject *inst_id,
           PyObject *received_us)
{
    PyObject *stats = CTX(STATS), *tid = NULL, *ts = NULL, *ids, *order;
    PyObject *row = trade_row_of(d, inst_id, received_us, CTX(TS_LIMITS), &tid, &ts);
    if (row == NULL)
        return PyErr_Occurred() ? -1 : PUSH_DECLINED;
    int result = -1;
    if (count_stream(stats, key, NULL) < 0 || recent_ids(CTX(RECENT), key, &ids, &order) < 0)
        goto done;
    int seen = PyDict_Contains(ids, tid);
    if (seen < 0)
        goto done;
    if (seen) {
        if (add_one(stats, NAME(duplicate_trades)) == 0)
            result = PUSH_DONE;
        goto done;
    }
    if (remember_trade(ids, order, tid) < 0)
        goto done;
    if (emit_row(CTX(EMIT), CTX(T_TICKS), Py_NewRef(row)) < 0
        || PyObject_SetAttr(stats, NAME(last_exchange_ts), ts) < 0)
        goto done;
    result = PUSH_DONE;
done:
    Py_DECREF(row);
    Py_DECREF(tid);
    Py_DECREF(ts);
    return result;
}

/* pipeline._ticker_row: the tickers row of `d` after decode()'s checks (new ref), or
 * NULL: with an exception on error, without one to decline. */
static PyObject *
ticker_row_of(PyObject *inst_id, PyObject *d, PyObject *received_us, PyObject *limits)
{
    /* instId instType ts last lastSz, then bidPx bidSz askPx askSz open24h high24h
     * low24h vol24h volCcy24h: the row's order */
    static const int which[14] = {N_instId, N_instType, N_ts, N_last, N_lastSz, N_bidPx,
                                  N_bidSz, N_askPx, N_askSz, N_open24h, N_high24h,
                                  N_low24h, N_vol24h, N_volCcy24h};
    PyObject *f[14] = {NULL}, *row = NULL, *ts = NULL;
    int ok = 1;
    for (int i = 0; i < 14; i++) {
        f[i] = PyObject_GetAttr(d, names[which[i]]);
        if (f[i] == NULL)
            goto done;
    }
    if (!same_inst(f[0], inst_id))
        goto done;
    ts = timestamp_of(f[2], limits);
    if (ts == NULL || !ascii_number_str(f[3]) || !ascii_number_str(f[4]))
        goto done;
    for (int i = 5; i < 14 && ok; i++) {
        PyObject *v = f[i];
        if (v == Py_None)
            continue;
        if (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0)
            Py_SETREF(f[i], Py_NewRef(Py_None));  /* decode()'s _opt_num: "" -> None */
        else
            ok = ascii_number_str(v);
    }
    if (!ok)
        goto done;
    row = PyTuple_New(15);
    if (row == NULL)
        goto done;
    PyTuple_SET_ITEM(row, 0, Py_NewRef(inst_id));
    PyTuple_SET_ITEM(row, 1, PyUnicode_CheckExact(f[1]) ? Py_NewRef(f[1])
                                                        : PyUnicode_FromString(""));
    PyTuple_SET_ITEM(row, 2, Py_NewRef(ts));
    for (int i = 3; i < 14; i++)
        PyTuple_SET_ITEM(row, i, Py_NewRef(f[i]));
    PyTuple_SET_ITEM(row, 14, Py_NewRef(received_us));
    if (PyTuple_GET_ITEM(row, 1) == NULL)
        Py_CLEAR(row);
done:
    Py_XDECREF(ts);
    for (int i = 0; i < 14; i++)
        Py_XDECREF(f[i]);
    return row;
}

/* A tickers push (pipeline._fast_tickers): every row first, then count and emit. */
static int
tickers_push(PyObject *ctx, PyObject *data, PyObject *key, PyObject *inst_id,
             PyObject *received_us)
{
    Py_ssize_t n = PyList_GET_SIZE(data);
    PyObject *rows = PyTuple_New(n);
    if (rows == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = ticker_row_of(inst_id, PyList_GET_ITEM(data, i), received_us,
                                      CTX(TS_LIMITS));
        if (row == NULL) {
            Py_DECREF(rows);
            return PyErr_Occurred() ? -1 : PUSH_DECLINED;
        }
        PyTuple_SET_ITEM(rows, i, row);
    }
    int rc = count_stream(CTX(STATS), key, NULL);
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *row = PyTuple_GET_ITEM(rows, i);
        rc = emit_row(CTX(EMIT), CTX(T_TICKERS), Py_NewRef(row));
        if (rc == 0)
            rc = PyObject_SetAttr(CTX(STATS), NAME(last_exchange_ts), PyTuple_GET_ITEM(row, 2));
    }
    Py_DECREF(rows);
    return rc < 0 ? -1 : PUSH_DONE;
}

/* 1 when s is one of the (interned) strings in `set`, compared by value. */
static int
one_of(PyObject *s, PyObject *const *set, int n)
{
    for (int i = 0; i < n; i++)
        if (s == set[i] || PyUnicode_Compare(s, set[i]) == 0)
            return 1;
    return 0;
}

static PyObject *channels_books[3], *channels_trades[2], *channel_tickers;

/* push(): *code gets its result, or -1 with an exception set. */
static void
do_push(PyObject *ctx, PyObject *f, PyObject *received_us, int *code)
{
    PyObject *event = NULL, *arg = NULL, *data = NULL, *channel = NULL, *inst_id = NULL,
             *key = NULL, *action = NULL, *book = NULL;
    *code = -1;
    event = PyObject_GetAttr(f, NAME(event));
    arg = event ? PyObject_GetAttr(f, NAME(arg)) : NULL;
    data = arg ? PyObject_GetAttr(f, NAME(data)) : NULL;
    if (data == NULL)
        goto done;
    *code = PUSH_DECLINED;
    if (event != Py_None || arg == Py_None || !PyList_CheckExact(data)
        || PyList_GET_SIZE(data) == 0)
        goto done;
    channel = PyObject_GetAttr(arg, NAME(channel));
    inst_id = channel ? PyObject_GetAttr(arg, NAME(instId)) : NULL;
    key = inst_id ? PyTuple_Pack(2, channel, inst_id) : NULL;
    if (key == NULL || !PyUnicode_CheckExact(channel)) {
        *code = key == NULL ? -1 : PUSH_DECLINED;
        goto done;
    }
    /* An instId not yet checked (decoder.known_inst_id): the Python path checks it. */
    int known = PySet_Contains(CTX(INST_IDS), inst_id);
    if (known <= 0) {
        *code = known < 0 ? -1 : PUSH_DECLINED;
        goto done;
    }
    Py_ssize_t n = PyList_GET_SIZE(data);
    if (one_of(channel, channels_books, 3)) {
        action = PyObject_GetAttr(f, NAME(action));
        if (action == NULL) {
            *code = -1;
            goto done;
        }
        if (n != 1 || !PyUnicode_CheckExact(action) || PyUnicode_Compare(action, str_update))
            goto done;
        /* A strong reference: emit() runs Python code, which could drop the book. */
        book = Py_XNewRef(PyDict_GetItemWithError(CTX(BOOKS), key));
        if (book == NULL) {
            *code = PyErr_Occurred() ? -1 : PUSH_DECLINED;
            goto done;
        }
        PyObject *state = PyObject_GetAttr(book, NAME(state));
        if (state == NULL) {
            *code = -1;
            goto done;
        }
        Py_DECREF(state);  /* compared by identity only; the book holds it */
        if (state != CTX(LIVE))
            goto done;
        *code = book_push(ctx, book, PyList_GET_ITEM(data, 0), key, channel, inst_id,
                          received_us);
    }
    else if (one_of(channel, channels_trades, 2)) {
        if (n == 1)
            *code = trade_push(ctx, PyList_GET_ITEM(data, 0), key, inst_id, received_us);
    }
    else if (one_of(channel, &channel_tickers, 1)) {
        *code = tickers_push(ctx, data, key, inst_id, received_us);
    }
done:
    Py_XDECREF(event);
    Py_XDECREF(arg);
    Py_XDECREF(data);
    Py_XDECREF(channel);
    Py_XDECREF(inst_id);
    Py_XDECREF(key);
    Py_XDECREF(action);
    Py_XDECREF(book);
}

PyDoc_STRVAR(push_doc,
"push(ctx, frame, received_us) -> int\n\n"
"A decoded data push (decoder.FastFrame) in its usual shape, handled as the pipeline's\n"
"Python fast path handles it (same checks, state changes, rows and counters):\n"
"  - books / books-l2-tbt / books50-l2-tbt: an `update` of one item for a LIVE book\n"
"    that chains (prevSeqId == the book's seqId) and moves on (seqId > prevSeqId);\n"
"  - trades / trades-all: a push of one trade;\n"
"  - tickers.\n"
"Returns 1 when done; 0 (declined: nothing changed, the Python path decides) for any\n"
"other push, or when a check fails or a string is not ASCII; 2 (bad level) or 3\n"
"(checksum failed) when the book was counted and dropped and must be resynchronised.\n"
"ctx is Pipeline._push_context: (books, BookState.LIVE, stats, recent tradeIds, emit,\n"
"book_levels, book_l2 table, bbo table, raw_ticks table, tickers table, same_price,\n"
"validate.TS_LIMITS, decoder.INST_IDS).");

static PyObject *
push(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != CTX_SIZE
        || !PyDict_Check(PyTuple_GET_ITEM(args[0], CTX_BOOKS))
        || !PyAnySet_Check(PyTuple_GET_ITEM(args[0], CTX_INST_IDS))) {
        PyErr_SetString(PyExc_TypeError, "push(ctx: tuple (see the doc), frame, received_us)");
        return NULL;
    }
    int code;
    do_push(args[0], args[1], args[2], &code);
    return code < 0 ? NULL : PyLong_FromLong(code);
}

/* Module state: interned attribute names, constants, and the three objects the push
 * functions need from the standard library. */
static int
init_push(void)
{
    for (int i = 0; i < N_COUNT; i++) {
        names[i] = PyUnicode_InternFromString(name_text[i]);
        if (names[i] == NULL)
            return -1;
    }
    str_update = PyUnicode_InternFromString("update");
    str_zero = PyUnicode_InternFromString("0");
    str_buy = PyUnicode_InternFromString("buy");
    str_sell = PyUnicode_InternFromString("sell");
    int_zero = PyLong_FromLong(0);
    int_one = PyLong_FromLong(1);
    if (!str_update || !str_zero || !str_buy || !str_sell || !int_zero || !int_one)
        return -1;
    static const char *const books[3] = {"books", "books-l2-tbt", "books50-l2-tbt"};
    for (int i = 0; i < 3; i++)
        if ((channels_books[i] = PyUnicode_InternFromString(books[i])) == NULL)
            return -1;
    channels_trades[0] = PyUnicode_InternFromString("trades");
    channels_trades[1] = PyUnicode_InternFromString("trades-all");
    channel_tickers = PyUnicode_InternFromString("tickers");
    if (!channels_trades[0] || !channels_trades[1] || !channel_tickers)
        return -1;
    PyObject *zlib = PyImport_ImportModule("zlib");
    PyObject *decimal = PyImport_ImportModule("decimal");
    PyObject *collections = PyImport_ImportModule("collections");
    if (zlib && decimal && collections) {
        zlib_crc32 = PyObject_GetAttrString(zlib, "crc32");
        invalid_operation = PyObject_GetAttrString(decimal, "InvalidOperation");
        deque_type = PyObject_GetAttrString(collections, "deque");
    }
    Py_XDECREF(zlib);
    Py_XDECREF(decimal);
    Py_XDECREF(collections);
    return zlib_crc32 && invalid_operation && deque_type ? 0 : -1;
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
    {"push", (PyCFunction)(void (*)(void))push, METH_FASTCALL, push_doc},
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
    if (init_push() < 0)
        return NULL;
    return PyModule_Create(&module);
}
