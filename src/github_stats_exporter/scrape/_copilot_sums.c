/* Optional C loop of the Copilot report mapper: adds one record's breakdown array to an entry's block.
 *
 * `sum_elements` is the accelerated twin of `copilot_sums.python_sum_elements`: for each element it
 * finds the number of its dimension value (numbering a new one through the mapper), and adds its seven
 * counters to that value's seven doubles in the entry's block, a bytearray at the entry's first value
 * index: one run of memory per (user, day) key instead of a struct and seven int objects per value,
 * which is what made a large report slow (docs/benchmarks.md, "Copilot report parsing"). A NaN double
 * is a counter no element has carried yet (None in the Python layout). The element's fields are read
 * at the slot offsets of its type's member descriptors (a msgspec Struct), taken once by `configure`.
 * A value numbered past the dense range goes to the mapper's Python function for those, unchanged.
 *
 * It must not decide anything the Python mapper does not: no labels, no caps, no I/O. The pure-Python
 * layout is the reference and the fallback when this module is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <structmember.h>

#define COUNTERS 7

typedef struct {
    PyTypeObject *element_type; /* strong reference */
    PyObject *beyond;           /* beyond(entry, number, element), strong reference */
    Py_ssize_t value_offset;
    Py_ssize_t offsets[COUNTERS];
    Py_ssize_t near; /* the index of the block in an entry, and the number of the first value */
    Py_ssize_t dense; /* values numbered near .. near + dense - 1 live in the block */
} State;

static State state;

static inline PyObject *
slot(PyObject *object, Py_ssize_t offset)
{
    /* Borrowed; an unset slot reads as None (msgspec sets every field, so this is defensive). */
    PyObject *value = *(PyObject **)((char *)object + offset);
    return value == NULL ? Py_None : value;
}

static int
offset_of(PyTypeObject *type, PyObject *name, Py_ssize_t *offset)
{
    PyObject *descr = PyObject_GetAttr((PyObject *)type, name);
    if (descr == NULL) {
        return -1;
    }
    if (!Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        (((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX &&
         ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT)) {
        PyErr_Format(PyExc_TypeError, "%s.%U is not an object slot", type->tp_name, name);
        Py_DECREF(descr);
        return -1;
    }
    *offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    return 0;
}

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyTypeObject *element_type;
    PyObject *fields, *beyond;
    Py_ssize_t near, dense;
    if (!PyArg_ParseTuple(args, "O!O!nnO", &PyType_Type, &element_type, &PyTuple_Type, &fields, &near, &dense,
                          &beyond)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(fields) != COUNTERS + 1 || near < 0 || dense < 1 || !PyCallable_Check(beyond)) {
        PyErr_SetString(PyExc_ValueError,
                        "configure(element_type, (value field, 7 counter fields), near >= 0, dense >= 1, beyond)");
        return NULL;
    }
    State next = {.near = near, .dense = dense};
    if (offset_of(element_type, PyTuple_GET_ITEM(fields, 0), &next.value_offset) < 0) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < COUNTERS; i++) {
        if (offset_of(element_type, PyTuple_GET_ITEM(fields, i + 1), &next.offsets[i]) < 0) {
            return NULL;
        }
    }
    next.element_type = (PyTypeObject *)Py_NewRef(element_type);
    next.beyond = Py_NewRef(beyond);
    State old = state;
    state = next;
    Py_XDECREF(old.element_type);
    Py_XDECREF(old.beyond);
    Py_RETURN_NONE;
}

/* The entry's block, created (empty) when the entry has none yet; borrowed. */
static PyObject *
block_of(PyObject *entry)
{
    Py_ssize_t size = PyList_GET_SIZE(entry);
    if (size > state.near) {
        PyObject *block = PyList_GET_ITEM(entry, state.near);
        if (!PyByteArray_CheckExact(block)) {
            PyErr_Format(PyExc_TypeError, "entry[%zd] is a %s, not a block", state.near, Py_TYPE(block)->tp_name);
            return NULL;
        }
        return block;
    }
    if (size != state.near) {
        PyErr_Format(PyExc_ValueError, "an entry has %zd items, not %zd", size, state.near);
        return NULL;
    }
    PyObject *block = PyByteArray_FromStringAndSize(NULL, 0);
    if (block == NULL) {
        return NULL;
    }
    int failed = PyList_Append(entry, block);
    Py_DECREF(block); /* the entry holds it */
    return failed ? NULL : block;
}

/* The seven doubles of value `index` in `block`, growing the block (new doubles NaN) to hold them. */
static double *
sums_of(PyObject *block, Py_ssize_t index)
{
    Py_ssize_t have = PyByteArray_GET_SIZE(block) / (Py_ssize_t)sizeof(double);
    Py_ssize_t need = (index + 1) * COUNTERS;
    if (need > have) {
        if (PyByteArray_Resize(block, need * (Py_ssize_t)sizeof(double)) < 0) {
            return NULL;
        }
        double *all = (double *)PyByteArray_AS_STRING(block);
        for (Py_ssize_t i = have; i < need; i++) {
            all[i] = NAN;
        }
    }
    return (double *)PyByteArray_AS_STRING(block) + index * COUNTERS;
}

/* Add the element's counters to `sums` (a NaN sum takes the counter; a None counter adds nothing). */
static int
add_counters(double *sums, PyObject *element)
{
    double values[COUNTERS];
    for (Py_ssize_t i = 0; i < COUNTERS; i++) {
        PyObject *v = slot(element, state.offsets[i]);
        if (v == Py_None) {
            values[i] = NAN;
        }
        else if (PyFloat_CheckExact(v)) {
            values[i] = PyFloat_AS_DOUBLE(v);
        }
        else if (PyLong_CheckExact(v)) {
            values[i] = PyLong_AsDouble(v);
            if (values[i] == -1.0 && PyErr_Occurred()) {
                return -1;
            }
        }
        else {
            PyErr_Format(PyExc_TypeError, "a counter is a %s, not a number", Py_TYPE(v)->tp_name);
            return -1;
        }
    }
    /* Only after every counter was read: an error leaves the sums as they were. */
    for (Py_ssize_t i = 0; i < COUNTERS; i++) {
        if (!isnan(values[i])) {
            sums[i] = isnan(sums[i]) ? values[i] : sums[i] + values[i];
        }
    }
    return 0;
}

static PyObject *
sum_elements(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) || !PyDict_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "sum_elements(entry: list, elements: list, numbers: dict, numbering)");
        return NULL;
    }
    if (state.element_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sum_elements before configure");
        return NULL;
    }
    PyObject *entry = args[0], *elements = args[1], *numbers = args[2], *numbering = args[3];
    /* The callbacks run Python code, which could change the list: hold it, and index with checks. */
    Py_INCREF(elements);
    PyObject *result = NULL;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(elements); k++) {
        PyObject *element = Py_NewRef(PyList_GET_ITEM(elements, k));
        PyObject *number_object = NULL;
        int failed = 1;
        if (!PyObject_TypeCheck(element, state.element_type)) {
            PyErr_Format(PyExc_TypeError, "a breakdown element is a %s, not a %s", Py_TYPE(element)->tp_name,
                         state.element_type->tp_name);
            goto next;
        }
        PyObject *value = slot(element, state.value_offset);
        number_object = PyDict_GetItemWithError(numbers, value);
        if (number_object != NULL) {
            Py_INCREF(number_object);
        }
        else if (PyErr_Occurred()) {
            goto next;
        }
        else {
            number_object = PyObject_CallOneArg(numbering, value);
            if (number_object == NULL) {
                goto next;
            }
        }
        if (number_object == Py_None) { /* an element without a value is never summed */
            failed = 0;
            goto next;
        }
        Py_ssize_t number = PyLong_AsSsize_t(number_object);
        if (number == -1 && PyErr_Occurred()) {
            goto next;
        }
        Py_ssize_t index = number - state.near;
        if (index < 0) {
            PyErr_Format(PyExc_ValueError, "value number %zd is below the first, %zd", number, state.near);
            goto next;
        }
        if (index >= state.dense) {
            PyObject *call[3] = {entry, number_object, element};
            PyObject *done = PyObject_Vectorcall(state.beyond, call, 3, NULL);
            failed = done == NULL;
            Py_XDECREF(done);
            goto next;
        }
        PyObject *block = block_of(entry);
        double *sums = block == NULL ? NULL : sums_of(block, index);
        failed = sums == NULL || add_counters(sums, element) < 0;
    next:
        Py_XDECREF(number_object);
        Py_DECREF(element);
        if (failed) {
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(elements);
    return result;
}

static PyObject *
read_sums(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t number;
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "read(entry: list, number: int)");
        return NULL;
    }
    number = PyLong_AsSsize_t(args[1]);
    if (number == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t index = number - state.near;
    if (index < 0 || index >= state.dense) {
        PyErr_Format(PyExc_ValueError, "value number %zd is outside the block", number);
        return NULL;
    }
    if (PyList_GET_SIZE(args[0]) <= state.near) {
        Py_RETURN_NONE;
    }
    PyObject *block = block_of(args[0]);
    if (block == NULL) {
        return NULL;
    }
    if ((index + 1) * COUNTERS * (Py_ssize_t)sizeof(double) > PyByteArray_GET_SIZE(block)) {
        Py_RETURN_NONE;
    }
    const double *sums = (const double *)PyByteArray_AS_STRING(block) + index * COUNTERS;
    int any = 0;
    for (Py_ssize_t i = 0; i < COUNTERS; i++) {
        any |= !isnan(sums[i]);
    }
    if (!any) { /* no element of this value in this entry */
        Py_RETURN_NONE;
    }
    PyObject *out = PyTuple_New(COUNTERS);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < COUNTERS; i++) {
        PyObject *item = isnan(sums[i]) ? Py_NewRef(Py_None) : PyFloat_FromDouble(sums[i]);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, item);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(element_type, fields, near, dense, beyond): the element type, its value field and seven "
     "counter fields, the block's index in an entry, the values it holds, and the function for the rest"},
    {"sum_elements", (PyCFunction)(void (*)(void))sum_elements, METH_FASTCALL,
     "sum_elements(entry, elements, numbers, numbering): add a breakdown array's counters to an entry"},
    {"read", (PyCFunction)(void (*)(void))read_sums, METH_FASTCALL,
     "read(entry, number): the seven sums of a dense value (None for a counter never carried), or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_copilot_sums",
    .m_doc = "Optional C loop of the Copilot report mapper (see copilot_sums).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__copilot_sums(void)
{
    return PyModule_Create(&module);
}
