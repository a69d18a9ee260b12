/* The hot loops of pseudonymising, in C: HMAC-SHA256 of many identifiers, reading
 * 12-digit identifiers, the person -> pseudonym map, and writing pseudonyms as hex.
 *
 * Why C: each loop runs once per row or per new person, and in Python (or as a chain of
 * NumPy passes) costs several times what the work itself needs. An HMAC of a short
 * identifier costs about 0.6 us of interpreter work in Python, while the two SHA-256
 * blocks it needs take well under 0.1 us in OpenSSL (which uses the CPU's SHA
 * extensions where it has them). Every loop releases the GIL, so reading and writing
 * in other threads go on meanwhile.
 *
 * No cryptography of our own: the HMAC is RFC 2104 over OpenSSL's SHA-256, the library
 * Python's hashlib already uses. The module is optional: without it (no compiler when
 * installing) pseudonymisation/_native.py says so and the same results come from Python
 * and NumPy; the tests check each loop against its twin. Key material is wiped.
 */
#define PY_SSIZE_T_CLEAN
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 but still exported; they are
 * the one API whose state is a plain struct, so copying the keyed state per message
 * costs a memcpy instead of an allocation (EVP_MD_CTX_copy_ex). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

/* hmac_sha256_many(key, prefix, data, offsets, nbytes) -> bytes
 *   message i is prefix + data[offsets[i]:offsets[i+1]] (offsets: native int64);
 *   returns the first nbytes (1-32) of each HMAC, concatenated. */
static PyObject *
hmac_sha256_many(PyObject *self, PyObject *args)
{
    Py_buffer key, prefix, data, offsets;
    Py_ssize_t nbytes;
    PyObject *out = NULL;

    if (!PyArg_ParseTuple(args, "y*y*y*y*n", &key, &prefix, &data, &offsets, &nbytes)) {
        return NULL;
    }
    if (key.len < 1 || key.len > SHA256_CBLOCK) {
        PyErr_SetString(PyExc_ValueError, "key must be 1 to 64 bytes");
        goto done;
    }
    if (nbytes < 1 || nbytes > SHA256_DIGEST_LENGTH) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be 1 to 32");
        goto done;
    }
    if (offsets.itemsize != (Py_ssize_t)sizeof(int64_t)
        || offsets.len < (Py_ssize_t)sizeof(int64_t) || offsets.len % sizeof(int64_t) != 0
        || ((uintptr_t)offsets.buf) % sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "offsets must be an aligned int64 array of n + 1 values");
        goto done;
    }

    const int64_t *off = (const int64_t *)offsets.buf;
    const Py_ssize_t n = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets must rise within the data");
            goto done;
        }
    }
    if (n > PY_SSIZE_T_MAX / nbytes) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n * nbytes);
    if (out == NULL) {
        goto done;
    }

    unsigned char pad[SHA256_CBLOCK];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX inner, outer, ctx;
    memset(pad, 0, sizeof pad);
    memcpy(pad, key.buf, (size_t)key.len);
    for (size_t j = 0; j < sizeof pad; j++) {
        pad[j] ^= 0x36;
    }
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, sizeof pad);
    SHA256_Update(&inner, prefix.buf, (size_t)prefix.len);
    for (size_t j = 0; j < sizeof pad; j++) {
        pad[j] ^= 0x36 ^ 0x5c;
    }
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, sizeof pad);

    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *src = (const unsigned char *)data.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        ctx = inner;
        SHA256_Update(&ctx, src + off[i], (size_t)(off[i + 1] - off[i]));
        SHA256_Final(digest, &ctx);
        ctx = outer;
        SHA256_Update(&ctx, digest, sizeof digest);
        SHA256_Final(digest, &ctx);
        memcpy(dst + i * nbytes, digest, (size_t)nbytes);
    }
    Py_END_ALLOW_THREADS

    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(digest, sizeof digest);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
    OPENSSL_cleanse(&ctx, sizeof ctx);

done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    return out;
}

/* twelve_digit_values(data, offsets, out) -> None
 *   for each string i = data[offsets[i]:offsets[i+1]] (offsets: native int32 or int64,
 *   by their item size, n + 1 values) out[i] (native int64, n values) gets its value
 *   if it is exactly 12 ASCII digits, else -1. */
static PyObject *
twelve_digit_values(PyObject *self, PyObject *args)
{
    Py_buffer data, offsets, out;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*w*", &data, &offsets, &out)) {
        return NULL;
    }
    const Py_ssize_t n = out.len / (Py_ssize_t)sizeof(int64_t);
    const int wide = offsets.itemsize == 8;
    if (out.len % sizeof(int64_t) != 0 || ((uintptr_t)out.buf) % sizeof(int64_t) != 0
        || (offsets.itemsize != 4 && offsets.itemsize != 8)
        || offsets.len != (n + 1) * offsets.itemsize
        || ((uintptr_t)offsets.buf) % offsets.itemsize != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "out must be n aligned int64 and offsets n + 1 aligned int32 or int64");
        goto done;
    }
    const int32_t *off32 = (const int32_t *)offsets.buf;
    const int64_t *off64 = (const int64_t *)offsets.buf;
    const unsigned char *src = (const unsigned char *)data.buf;
    int64_t *dst = (int64_t *)out.buf;
    int bad_offsets = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t start = wide ? off64[i] : off32[i];
        const int64_t end = wide ? off64[i + 1] : off32[i + 1];
        if (start < 0 || end < start || end > data.len) {
            bad_offsets = 1;
            break;
        }
        if (end - start != 12) {
            dst[i] = -1;
            continue;
        }
        const unsigned char *p = src + start;
        int64_t value = 0;
        unsigned int not_digit = 0;
        for (int k = 0; k < 12; k++) {
            const unsigned int d = (unsigned int)p[k] - '0';
            not_digit |= d > 9;
            value = value * 10 + d;
        }
        dst[i] = not_digit ? -1 : value;
    }
    Py_END_ALLOW_THREADS
    if (bad_offsets) {
        PyErr_SetString(PyExc_ValueError, "offsets must rise within the data");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&out);
    return result;
}

/* hex16(codes, out) -> None
 *   out (16 * n bytes) gets each native uint64 of codes (n values) as 16 lower-case
 *   hex characters, most significant first. */
static PyObject *
hex16(PyObject *self, PyObject *args)
{
    static const char digits[] = "0123456789abcdef";
    Py_buffer codes, out;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*w*", &codes, &out)) {
        return NULL;
    }
    const Py_ssize_t n = codes.len / (Py_ssize_t)sizeof(uint64_t);
    if (codes.len % sizeof(uint64_t) != 0 || out.len != 16 * n
        || ((uintptr_t)codes.buf) % sizeof(uint64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "codes must be aligned uint64 and out 16 bytes each");
        goto done;
    }
    const uint64_t *src = (const uint64_t *)codes.buf;
    char *dst = (char *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint64_t c = src[i];
        for (int k = 0; k < 16; k++) {
            dst[16 * i + k] = digits[(c >> (60 - 4 * k)) & 15];
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&codes);
    PyBuffer_Release(&out);
    return result;
}

/* KeyMap: int64 keys (>= 0) -> uint64 codes, the pseudonym map of the person domain.
 *
 * Open addressing with linear probing and Fibonacci hashing; -1 marks an empty slot.
 * The table doubles before it is 70% full, so a look-up touches one or two cache lines.
 * Insert-only: a run never forgets a person. lookup() releases the GIL; insert() keeps
 * it and refuses to resize under a running lookup (the "readers" count), so a second
 * thread can never free the table under the first. insert() takes distinct new keys;
 * keys already in the map are refused before anything changes, but a key repeated
 * within one call is only found half-way, and then the map refuses all further use. */
typedef struct {
    PyObject_HEAD
    int64_t *keys;
    uint64_t *codes;
    Py_ssize_t capacity; /* a power of two */
    Py_ssize_t count;
    int bits;
    Py_ssize_t readers;
    int broken; /* an insert failed half-way: refuse all further use */
} KeyMap;

static inline Py_ssize_t
slot_of(int64_t key, int bits)
{
    return (Py_ssize_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

static int
keymap_alloc(KeyMap *self, int bits)
{
    const Py_ssize_t capacity = (Py_ssize_t)1 << bits;
    int64_t *keys = PyMem_RawMalloc((size_t)capacity * sizeof(int64_t));
    uint64_t *codes = PyMem_RawMalloc((size_t)capacity * sizeof(uint64_t));
    if (keys == NULL || codes == NULL) {
        PyMem_RawFree(keys);
        PyMem_RawFree(codes);
        PyErr_NoMemory();
        return -1;
    }
    memset(keys, 0xff, (size_t)capacity * sizeof(int64_t)); /* every key -1: empty */
    int64_t *old_keys = self->keys;
    uint64_t *old_codes = self->codes;
    const Py_ssize_t old_capacity = self->capacity;
    self->keys = keys;
    self->codes = codes;
    self->capacity = capacity;
    self->bits = bits;
    for (Py_ssize_t i = 0; i < old_capacity; i++) {
        if (old_keys[i] >= 0) {
            Py_ssize_t s = slot_of(old_keys[i], bits);
            while (keys[s] >= 0) {
                s = (s + 1) & (capacity - 1);
            }
            keys[s] = old_keys[i];
            codes[s] = old_codes[i];
        }
    }
    PyMem_RawFree(old_keys);
    PyMem_RawFree(old_codes);
    return 0;
}

static PyObject *
keymap_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) {
        return NULL;
    }
    KeyMap *self = (KeyMap *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (keymap_alloc(self, 10) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
keymap_dealloc(KeyMap *self)
{
    PyMem_RawFree(self->keys);
    PyMem_RawFree(self->codes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
keymap_len(KeyMap *self)
{
    return self->count;
}

/* lookup(keys, codes, found) -> int
 *   for each int64 key: codes[i] (uint64) its code and found[i] (uint8) 1, or 0 and 0;
 *   returns how many were found. */
static PyObject *
keymap_lookup(KeyMap *self, PyObject *args)
{
    Py_buffer keys, codes, found;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*w*w*", &keys, &codes, &found)) {
        return NULL;
    }
    const Py_ssize_t n = keys.len / (Py_ssize_t)sizeof(int64_t);
    if (keys.len % sizeof(int64_t) != 0 || codes.len != n * (Py_ssize_t)sizeof(uint64_t)
        || found.len != n || ((uintptr_t)keys.buf) % sizeof(int64_t) != 0
        || ((uintptr_t)codes.buf) % sizeof(uint64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "keys, codes and found must be n aligned values");
        goto done;
    }
    if (self->broken) {
        PyErr_SetString(PyExc_RuntimeError, "KeyMap is unusable after a failed insert");
        goto done;
    }
    const int64_t *k = (const int64_t *)keys.buf;
    uint64_t *c = (uint64_t *)codes.buf;
    unsigned char *f = (unsigned char *)found.buf;
    const int64_t *table_keys = self->keys;
    const uint64_t *table_codes = self->codes;
    const Py_ssize_t mask = self->capacity - 1;
    const int bits = self->bits;
    Py_ssize_t hits = 0;
    self->readers++;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t key = k[i];
        c[i] = 0;
        f[i] = 0;
        if (key < 0) {
            continue;
        }
        Py_ssize_t s = slot_of(key, bits);
        for (;;) {
            const int64_t there = table_keys[s];
            if (there == key) {
                c[i] = table_codes[s];
                f[i] = 1;
                hits++;
                break;
            }
            if (there < 0) {
                break;
            }
            s = (s + 1) & mask;
        }
    }
    Py_END_ALLOW_THREADS
    self->readers--;
    result = PyLong_FromSsize_t(hits);
done:
    PyBuffer_Release(&keys);
    PyBuffer_Release(&codes);
    PyBuffer_Release(&found);
    return result;
}

/* insert(keys, codes) -> None
 *   adds int64 keys (>= 0, not in the map yet) with their uint64 codes. */
static PyObject *
keymap_insert(KeyMap *self, PyObject *args)
{
    Py_buffer keys, codes;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*", &keys, &codes)) {
        return NULL;
    }
    const Py_ssize_t n = keys.len / (Py_ssize_t)sizeof(int64_t);
    if (keys.len % sizeof(int64_t) != 0 || codes.len != n * (Py_ssize_t)sizeof(uint64_t)
        || ((uintptr_t)keys.buf) % sizeof(int64_t) != 0
        || ((uintptr_t)codes.buf) % sizeof(uint64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "keys and codes must be n aligned values each");
        goto done;
    }
    if (self->readers > 0) {
        PyErr_SetString(PyExc_RuntimeError, "KeyMap changed during a lookup");
        goto done;
    }
    if (self->broken) {
        PyErr_SetString(PyExc_RuntimeError, "KeyMap is unusable after a failed insert");
        goto done;
    }
    const int64_t *k = (const int64_t *)keys.buf;
    const uint64_t *c = (const uint64_t *)codes.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (k[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "keys must not be negative");
            goto done;
        }
        Py_ssize_t s = slot_of(k[i], self->bits);
        while (self->keys[s] >= 0 && self->keys[s] != k[i]) {
            s = (s + 1) & (self->capacity - 1);
        }
        if (self->keys[s] == k[i]) {
            PyErr_SetString(PyExc_ValueError, "a key is in the map already");
            goto done;
        }
    }
    int bits = self->bits;
    while ((double)(self->count + n) > 0.7 * (double)((Py_ssize_t)1 << bits)) {
        bits++;
    }
    if (bits > 40) {
        PyErr_NoMemory();
        goto done;
    }
    if (bits != self->bits && keymap_alloc(self, bits) < 0) {
        goto done;
    }
    const Py_ssize_t mask = self->capacity - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t s = slot_of(k[i], self->bits);
        while (self->keys[s] >= 0 && self->keys[s] != k[i]) {
            s = (s + 1) & mask;
        }
        if (self->keys[s] == k[i]) {
            self->broken = 1;
            PyErr_SetString(PyExc_ValueError, "a key is repeated in one insert");
            goto done;
        }
        self->keys[s] = k[i];
        self->codes[s] = c[i];
        self->count++;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&keys);
    PyBuffer_Release(&codes);
    return result;
}

static PyMethodDef keymap_methods[] = {
    {"lookup", (PyCFunction)keymap_lookup, METH_VARARGS,
     "lookup(keys, codes, found) -> int\n\n"
     "For each int64 key its uint64 code and found = 1 (else 0 and 0); returns the hits."},
    {"insert", (PyCFunction)keymap_insert, METH_VARARGS,
     "insert(keys, codes) -> None\n\nAdd int64 keys (>= 0, new) with their uint64 codes."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods keymap_as_sequence = {
    .sq_length = (lenfunc)keymap_len,
};

static PyTypeObject KeyMapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pseudonymisation._kernels.KeyMap",
    .tp_doc = "int64 keys -> uint64 codes: the person pseudonym map of one run.",
    .tp_basicsize = sizeof(KeyMap),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = keymap_new,
    .tp_dealloc = (destructor)keymap_dealloc,
    .tp_methods = keymap_methods,
    .tp_as_sequence = &keymap_as_sequence,
};

static PyMethodDef methods[] = {
    {"hmac_sha256_many", hmac_sha256_many, METH_VARARGS,
     "hmac_sha256_many(key, prefix, data, offsets, nbytes) -> bytes\n\n"
     "The first nbytes of HMAC-SHA256(key, prefix + data[offsets[i]:offsets[i+1]])\n"
     "for every i, concatenated. offsets: native int64, n + 1 values."},
    {"twelve_digit_values", twelve_digit_values, METH_VARARGS,
     "twelve_digit_values(data, offsets, out) -> None\n\n"
     "out[i] = the value of string i if it is exactly 12 ASCII digits, else -1."},
    {"hex16", hex16, METH_VARARGS,
     "hex16(codes, out) -> None\n\nEach uint64 code as 16 lower-case hex characters."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "The hot loops of pseudonymising in C (see _kernels.c); every loop releases the GIL.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    if (PyType_Ready(&KeyMapType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&KeyMapType);
    if (PyModule_AddObject(m, "KeyMap", (PyObject *)&KeyMapType) < 0) {
        Py_DECREF(&KeyMapType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
