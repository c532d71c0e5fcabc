/* The statements of Python source, found in one pass over its bytes.
 *
 * `statements(data, start, end)` gives the children a clean tree-sitter parse gives the
 * module occupying [start, end) of `data` (which ends with a newline), each class's
 * `members` those of its body, or None when the text does not scan cleanly (an
 * unterminated string, unbalanced or too deeply nested brackets, a stray backslash or
 * closing bracket). See python_definitions.py for the rules; each function below says
 * which piece of the grammar it reads. Every loop is possessive: nothing backtracks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Brackets nest this deep inside a logical line, the outermost one included (13). */
#define MAX_BRACKET_DEPTH 12

typedef const unsigned char *Bytes;

static PyTypeObject *StatementType;

static PyStructSequence_Field statement_fields[] = {
    {"start", "where its first line (decorators included) starts"},
    {"end", "after its last line (a trailing comment that belongs to it included)"},
    {"comment", "whether it is a comment line"},
    {"name", "the name a def or class introduces, else None"},
    {"members", "a class whose body is a block of its own lines: that block's children"},
    {"line_start", "a class with members: where its class line starts, else -1"},
    {"header_end", "a class with members: where its body's first line of code starts"},
    {NULL, NULL},
};

static PyStructSequence_Desc statement_desc = {
    "connector_assets._python_scan.Statement",
    "One child of a block: where its first line starts and what it defines.",
    statement_fields,
    7,
};

static inline int is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static inline int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Bytes that end a run of plain text inside a logical line, and inside brackets. */
static const unsigned char line_special[256] = {
    ['\n'] = 1, ['#'] = 1, ['\''] = 1, ['"'] = 1, ['\\'] = 1,
    ['('] = 1,  ['['] = 1, ['{'] = 1,  [')'] = 1, [']'] = 1,  ['}'] = 1,
};
static const unsigned char bracket_special[256] = {
    ['#'] = 1, ['\''] = 1, ['"'] = 1, ['('] = 1, ['['] = 1,
    ['{'] = 1, [')'] = 1,  [']'] = 1, ['}'] = 1,
};

static inline int is_opener(unsigned char c) { return c == '(' || c == '[' || c == '{'; }

static inline int is_closer(unsigned char c) { return c == ')' || c == ']' || c == '}'; }

static inline int starts_with(Bytes d, Py_ssize_t p, Py_ssize_t end, const char *s, Py_ssize_t n) {
    return p + n <= end && memcmp(d + p, s, (size_t)n) == 0;
}

/* A string literal at its quote: triple quoted, else on one line; its end or -1. */
static Py_ssize_t string_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    unsigned char q = d[p];
    Py_ssize_t i;
    if (p + 2 < end && d[p + 1] == q && d[p + 2] == q) {
        for (i = p + 3; i < end; i++) {
            if (d[i] == '\\') {
                if (i + 1 >= end)
                    break;
                i++;
            } else if (d[i] == q && i + 2 < end && d[i + 1] == q && d[i + 2] == q) {
                return i + 3;
            }
        }
        /* Unterminated: read as an empty string and what follows it, as `re` does. */
    }
    for (i = p + 1; i < end; i++) {
        unsigned char c = d[i];
        if (c == '\\') {
            if (i + 1 >= end)
                return -1;
            i++;
        } else if (c == '\n') {
            return -1;
        } else if (c == q) {
            return i + 1;
        }
    }
    return -1;
}

/* A comment's end: its newline, or `end` when it has none. */
static inline Py_ssize_t comment_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    const void *nl = memchr(d + p, '\n', (size_t)(end - p));
    return nl ? (const unsigned char *)nl - d : end;
}

/* A bracketed span at its opener (any closer closes it), holding strings, comments and
 * up to `depth` nested spans; its end or -1. */
static Py_ssize_t bracket_end(Bytes d, Py_ssize_t p, Py_ssize_t end, int depth) {
    Py_ssize_t i = p + 1;
    while (i < end) {
        unsigned char c = d[i];
        if (!bracket_special[c]) {
            i++;
            continue;
        }
        if (is_closer(c))
            return i + 1;
        if (c == '\'' || c == '"') {
            i = string_end(d, i, end);
        } else if (c == '#') {
            i = comment_end(d, i, end);
            continue;
        } else if (is_opener(c)) {
            if (!depth)
                return -1;
            i = bracket_end(d, i, end, depth - 1);
        }
        if (i < 0)
            return -1;
    }
    return -1;
}

/* The rest of a logical line from `p`, through its newline; its end or -1. */
static Py_ssize_t rest_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t i = p;
    while (i < end) {
        unsigned char c = d[i];
        if (!line_special[c]) {
            i++;
            continue;
        }
        switch (c) {
        case '\n':
            return i + 1;
        case '#':
            i = comment_end(d, i, end);
            return i < end ? i + 1 : -1;
        case '\'':
        case '"':
            i = string_end(d, i, end);
            break;
        case '(':
        case '[':
        case '{':
            i = bracket_end(d, i, end, MAX_BRACKET_DEPTH);
            break;
        case '\\':
            if (i + 1 < end && d[i + 1] == '\n')
                i += 2;
            else if (i + 2 < end && d[i + 1] == '\r' && d[i + 2] == '\n')
                i += 3;
            else
                return -1;
            break;
        default: /* a closing bracket */
            return -1;
        }
        if (i < 0)
            return -1;
    }
    return -1;
}

/* A blank or comment line at `p`: its end, or -1. */
static inline Py_ssize_t blank_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t i = p;
    while (i < end && (d[i] == ' ' || d[i] == '\t' || d[i] == '\f' || d[i] == '\r'))
        i++;
    if (i < end && d[i] == '#')
        i = comment_end(d, i, end);
    return i < end && d[i] == '\n' ? i + 1 : -1;
}

/* Past the blank and comment lines from `p`. */
static Py_ssize_t blanks_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    Py_ssize_t next;
    while ((next = blank_end(d, p, end)) != -1)
        p = next;
    return p;
}

/* An identifier's end, or -1 (bytes from 0x80 count as letters). */
static Py_ssize_t identifier_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    if (p >= end || !(is_word(d[p]) || d[p] >= 0x80) || (d[p] >= '0' && d[p] <= '9'))
        return -1;
    for (p++; p < end && (is_word(d[p]) || d[p] >= 0x80); p++)
        ;
    return p;
}

static inline Py_ssize_t keyword_end(Bytes d, Py_ssize_t p, Py_ssize_t end, const char *word) {
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    if (!starts_with(d, p, end, word, n) || (p + n < end && is_word(d[p + n])))
        return -1;
    return p + n;
}

/* An else/elif/except/finally clause keyword at `p`: its end, or -1. */
static Py_ssize_t clause_end(Bytes d, Py_ssize_t p, Py_ssize_t end) {
    static const char *clauses[] = {"else", "elif", "except", "finally"};
    for (int k = 0; k < 4; k++) {
        Py_ssize_t e = keyword_end(d, p, end, clauses[k]);
        if (e != -1)
            return e;
    }
    return -1;
}

/* `word` then at least one space or tab: where what follows starts, or -1. */
static Py_ssize_t spaced_word_end(Bytes d, Py_ssize_t p, Py_ssize_t end, const char *word) {
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    if (!starts_with(d, p, end, word, n) || p + n >= end || (d[p + n] != ' ' && d[p + n] != '\t'))
        return -1;
    for (p += n; p < end && (d[p] == ' ' || d[p] == '\t'); p++)
        ;
    return p;
}

typedef struct {
    Py_ssize_t first, line_start; /* the statement's (decorators') start, its own line's */
    Py_ssize_t head_end;          /* after its first logical line (a class's header) */
    int is_class;
    Py_ssize_t name0, name1;      /* name0 == -1: no name */
    Py_ssize_t body0, body1;      /* indentation of the next line of code; body0 == -1: none */
    Py_ssize_t trail0, trail1;    /* not a class: its trailing blank and comment lines */
} Match;

/* The indentation of the next line of code after `p`, when there is one. */
static void next_indent(Bytes d, Py_ssize_t p, Py_ssize_t end, Match *m) {
    Py_ssize_t j = blanks_end(d, p, end), k = j;
    while (k < end && (d[k] == ' ' || d[k] == '\t'))
        k++;
    if (k < end && !is_space(d[k]) && d[k] != '#') {
        m->body0 = j;
        m->body1 = k;
    } else {
        m->body0 = m->body1 = -1;
    }
}

/* The next statement at exactly `ind` from `p`: 1 with `m` filled, or 0.
 *
 * Blank and comment lines, then decorators, then the statement. A class stops at the end
 * of its header line; any other statement takes its deeper lines and clauses, then the
 * blank and comment lines that trail it. */
static int match_statement(Bytes d, Py_ssize_t p, Py_ssize_t end, Bytes ind, Py_ssize_t n,
                           Match *m) {
    Py_ssize_t i = blanks_end(d, p, end), q, e;
    m->first = i;
    while (starts_with(d, i, end, (const char *)ind, n) && i + n < end && d[i + n] == '@') {
        e = rest_end(d, i + n + 1, end);
        if (e == -1)
            break;
        i = blanks_end(d, e, end);
    }
    m->line_start = i;
    if (!starts_with(d, i, end, (const char *)ind, n))
        return 0;
    q = i + n;
    m->name0 = m->name1 = -1;
    e = spaced_word_end(d, q, end, "class");
    if (e != -1) {
        Py_ssize_t name_end = identifier_end(d, e, end);
        Py_ssize_t head_end = name_end == -1 ? -1 : rest_end(d, name_end, end);
        if (head_end != -1) {
            m->is_class = 1;
            m->head_end = head_end;
            m->name0 = e;
            m->name1 = name_end;
            next_indent(d, head_end, end, m);
            return 1;
        }
    }
    m->is_class = 0;
    if (q >= end || is_space(d[q]) || d[q] == '#' || clause_end(d, q, end) != -1)
        return 0;
    e = spaced_word_end(d, q, end, "async");
    e = spaced_word_end(d, e == -1 ? q : e, end, "def");
    if (e != -1 && (m->name1 = identifier_end(d, e, end)) != -1)
        m->name0 = e;
    else
        m->name1 = -1;
    m->head_end = rest_end(d, q, end);
    if (m->head_end == -1)
        return 0;
    next_indent(d, m->head_end, end, m);
    /* Deeper lines and clauses, each after any blank and comment lines. */
    i = m->head_end;
    for (;;) {
        Py_ssize_t j = blanks_end(d, i, end);
        if (!starts_with(d, j, end, (const char *)ind, n) || j + n >= end)
            break;
        j += n;
        if (d[j] == ' ' || d[j] == '\t')
            e = rest_end(d, j + 1, end);
        else if ((e = clause_end(d, j, end)) != -1)
            e = rest_end(d, e, end);
        if (e == -1)
            break;
        i = e;
    }
    m->trail0 = i;
    m->trail1 = blanks_end(d, i, end);
    return 1;
}

typedef struct {
    Py_ssize_t start, end, name0, name1, line_start, header_end;
    int comment;
    PyObject *members; /* owned; NULL: None */
} Row;

typedef struct {
    Row *rows;
    Py_ssize_t len, cap;
} Rows;

static int push(Rows *rows, Py_ssize_t start, Py_ssize_t end, int comment) {
    if (rows->len == rows->cap) {
        Py_ssize_t cap = rows->cap ? rows->cap * 2 : 16;
        Row *grown = PyMem_Realloc(rows->rows, (size_t)cap * sizeof(Row));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        rows->rows = grown;
        rows->cap = cap;
    }
    Row *row = &rows->rows[rows->len++];
    row->start = start;
    row->end = end;
    row->comment = comment;
    row->name0 = row->name1 = row->line_start = row->header_end = -1;
    row->members = NULL;
    return 0;
}

static void release(Rows *rows) {
    for (Py_ssize_t k = 0; k < rows->len; k++)
        Py_XDECREF(rows->rows[k].members);
    PyMem_Free(rows->rows);
}

/* Place the comment lines of [start, end), after a statement, as tree-sitter's scanner
 * does. Comments indented at least `inner` (the statement's body, -1 when it has none)
 * stay in it, up to the first one indented less; the others are children of this block,
 * up to the first indented less than `floor` (-1 unless the block ends here), where the
 * lines left to the enclosing block start (`*stop`). Returns where the statement ends,
 * or -2 on a memory error. */
static Py_ssize_t comment_rows(Bytes d, Py_ssize_t start, Py_ssize_t end, Py_ssize_t size,
                               Rows *rows, Py_ssize_t inner, Py_ssize_t floor, Py_ssize_t *stop) {
    Py_ssize_t statement_end = start, pos = start;
    *stop = end;
    while (pos < end) {
        Py_ssize_t line_end = comment_end(d, pos, size) + 1, text = pos;
        while (d[text] == ' ' || d[text] == '\t' || d[text] == '\f' || d[text] == '\r')
            text++;
        if (d[text] == '#') {
            Py_ssize_t column = text - pos;
            if (inner >= 0 && column >= inner) {
                statement_end = line_end;
            } else if (column < floor) {
                *stop = pos;
                return statement_end;
            } else {
                inner = -1;
                if (push(rows, pos, line_end, 1) < 0)
                    return -2;
            }
        }
        pos = line_end;
    }
    return statement_end;
}

static inline int has_comment(Bytes d, Py_ssize_t start, Py_ssize_t end) {
    return start < end && memchr(d + start, '#', (size_t)(end - start)) != NULL;
}

static PyObject *to_list(Bytes d, Rows *rows) {
    PyObject *list = PyList_New(rows->len);
    if (!list)
        return NULL;
    for (Py_ssize_t k = 0; k < rows->len; k++) {
        Row *row = &rows->rows[k];
        PyObject *item = PyStructSequence_New(StatementType), *name;
        if (!item)
            goto fail;
        PyList_SET_ITEM(list, k, item);
        if (row->name0 == -1) {
            name = Py_NewRef(Py_None);
        } else {
            name = PyUnicode_DecodeUTF8((const char *)d + row->name0, row->name1 - row->name0,
                                        "surrogatepass");
            if (!name)
                goto fail;
        }
        PyStructSequence_SET_ITEM(item, 0, PyLong_FromSsize_t(row->start));
        PyStructSequence_SET_ITEM(item, 1, PyLong_FromSsize_t(row->end));
        PyStructSequence_SET_ITEM(item, 2, PyBool_FromLong(row->comment));
        PyStructSequence_SET_ITEM(item, 3, name);
        PyStructSequence_SET_ITEM(item, 4, row->members ? row->members : Py_NewRef(Py_None));
        row->members = NULL;
        PyStructSequence_SET_ITEM(item, 5, PyLong_FromSsize_t(row->line_start));
        PyStructSequence_SET_ITEM(item, 6, PyLong_FromSsize_t(row->header_end));
        for (int f = 0; f < 7; f++)
            if (!PyStructSequence_GET_ITEM(item, f))
                goto fail;
    }
    return list;
fail:
    Py_DECREF(list);
    return NULL;
}

/* The children at `ind` of the block starting at `pos` into `*out`, where the lines
 * after it start into `*stop`, and its last child's end into `*last_end`. Comment lines
 * before the first statement are the module's children, but not a class body's
 * (tree-sitter leaves them outside it). 0, or -1 with a Python error raised. */
static int block(Bytes d, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size, Bytes ind,
                 Py_ssize_t n, PyObject **out, Py_ssize_t *stop, Py_ssize_t *last_end) {
    Rows rows = {NULL, 0, 0};
    Py_ssize_t trail0 = pos, trail1 = pos, inner = -1, child = -1, ignored;
    Match m;
    int outcome = -1;
    while (pos < end && match_statement(d, pos, end, ind, n, &m)) {
        if (child != -1 && has_comment(d, trail0, trail1)) {
            Py_ssize_t e = comment_rows(d, trail0, trail1, size, &rows, inner, -1, &ignored);
            if (e == -2)
                goto done;
            rows.rows[child].end = e;
        }
        if (!n && has_comment(d, pos, m.first) &&
            comment_rows(d, pos, m.first, size, &rows, -1, -1, &ignored) == -2)
            goto done;
        if (push(&rows, m.first, m.head_end, 0) < 0)
            goto done;
        child = rows.len - 1;
        rows.rows[child].name0 = m.name0;
        rows.rows[child].name1 = m.name1;
        Py_ssize_t width = m.body1 - m.body0;
        int deeper = width > n;
        if (m.is_class) {
            inner = -1;
            pos = m.head_end;
            if (deeper) {
                PyObject *members;
                Py_ssize_t members_end;
                if (block(d, m.head_end, end, size, d + m.body0, width, &members, &pos,
                          &members_end) < 0)
                    goto done;
                Row *row = &rows.rows[child];
                row->members = members;
                if (PyList_GET_SIZE(members))
                    row->end = members_end;
                row->line_start = m.line_start;
                row->header_end = m.body0;
            }
            trail0 = pos;
            trail1 = blanks_end(d, pos, end);
        } else {
            trail0 = m.trail0;
            trail1 = m.trail1;
            rows.rows[child].end = trail0;
            inner = deeper ? width : -1;
        }
        pos = trail1;
    }
    *stop = pos;
    if (child != -1) {
        *stop = trail1;
        if (has_comment(d, trail0, trail1)) {
            Py_ssize_t e = comment_rows(d, trail0, trail1, size, &rows, inner, n, stop);
            if (e == -2)
                goto done;
            rows.rows[child].end = e;
        }
    }
    *last_end = rows.len ? rows.rows[rows.len - 1].end : -1;
    *out = to_list(d, &rows);
    outcome = *out ? 0 : -1;
done:
    release(&rows);
    return outcome;
}

static PyObject *statements(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    Py_buffer view;
    Py_ssize_t start, end, stop, last_end;
    PyObject *children = NULL;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "statements(data, start, end)");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    end = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred() || PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Bytes d = view.buf;
    if (start < 0 || end > view.len || start > end) {
        PyErr_SetString(PyExc_ValueError, "[start, end) is not inside data");
        goto done;
    }
    if (block(d, start, end, view.len, (Bytes) "", 0, &children, &stop, &last_end) < 0)
        goto done;
    if (stop != end) {
        /* What is left must be blank and comment lines: the end of the module. */
        Py_ssize_t pos = stop;
        while (pos < end && (pos = blank_end(d, pos, end)) != -1)
            ;
        Rows rows = {NULL, 0, 0};
        if (pos != end) {
            Py_SETREF(children, Py_NewRef(Py_None));
        } else if (comment_rows(d, stop, end, view.len, &rows, -1, -1, &pos) == -2) {
            Py_CLEAR(children);
        } else {
            PyObject *comments = to_list(d, &rows);
            if (!comments || PyList_SetSlice(children, PyList_GET_SIZE(children),
                                             PyList_GET_SIZE(children), comments) < 0)
                Py_CLEAR(children);
            Py_XDECREF(comments);
        }
        release(&rows);
    }
done:
    PyBuffer_Release(&view);
    return children;
}

static PyMethodDef methods[] = {
    {"statements", (PyCFunction)(void (*)(void))statements, METH_FASTCALL,
     "statements(data, start, end) -> list[Statement] | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_python_scan", "The Python statement scanner.", -1, methods,
};

PyMODINIT_FUNC PyInit__python_scan(void) {
    PyObject *module = PyModule_Create(&module_def);
    if (!module)
        return NULL;
    StatementType = PyStructSequence_NewType(&statement_desc);
    if (!StatementType || PyModule_AddObjectRef(module, "Statement", (PyObject *)StatementType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
