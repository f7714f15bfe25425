/*
 * cli/command.c - a job's command from the template: replacement strings
 * and the choice between exec'ing it directly and running it by a shell.
 *
 * Replacement strings, as GNU parallel defines them:
 *   {}   the input
 *   {.}  the input without its extension (a last "." of the last path
 *        component and what follows: "a/b.tar.gz" -> "a/b.tar")
 *   {/}  the basename (what follows the last '/')
 *   {#}  the job's sequence number, from 1
 * With none of {}, {.}, {/} in the template, " {}" is appended.
 *
 * Shell or not (the rule of docs/cli.md): the template with its
 * replacement strings taken out is scanned for a shell metacharacter,
 * one of  | & ; < > ( ) $ ` \ " ' * ? [ ] # ~ = % ! { }  or a newline or a
 * tab.  With none, the command is split at spaces into argv and exec'd
 * directly, one exec, as xargs does; each input stays one argument
 * whatever it holds.  The shell runs it too when its first word is a shell
 * keyword or a builtin with no program of its name (exit, cd, export,
 * if, for...: SHELL_WORDS), which no exec could run.  Otherwise, with a
 * metacharacter, the line runs under /bin/sh -c, as GNU
 * parallel runs every job, and each replacement is shell-quoted ('...')
 * so that an input is one word, never code.  The input never decides:
 * the same template runs the same way for every input.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char METACHARS[] = "|&;<>()$`\\\"'*?[]#~=%!{}\n\t";

/* First words that only a shell can run (POSIX keywords and builtins
 * that have no program of their own on Linux, and bash's usual ones). */
static const char *const SHELL_WORDS[] = {
    ".",       ":",        "alias",    "bg",     "break",  "case",   "cd",
    "command", "continue", "do",       "done",   "elif",   "else",   "esac",
    "eval",    "exec",     "exit",     "export", "fc",     "fg",     "fi",
    "for",     "function", "getopts",  "hash",   "if",     "jobs",   "let",
    "local",   "read",     "readonly", "return", "select", "set",    "shift",
    "source",  "then",     "times",    "trap",   "type",   "ulimit", "umask",
    "unalias", "unset",    "until",    "wait",   "while",
};

static bool is_shell_word(const char *line)
{
    size_t n = strcspn(line, " ");
    for (size_t i = 0; i < sizeof SHELL_WORDS / sizeof *SHELL_WORDS; i++)
        if (strlen(SHELL_WORDS[i]) == n && !strncmp(line, SHELL_WORDS[i], n))
            return true;
    return false;
}

/* The length of the replacement string at s, or 0 if none starts there. */
static size_t repl_len(const char *s)
{
    if (s[0] != '{')
        return 0;
    if (s[1] == '}')
        return 2;
    if ((s[1] == '.' || s[1] == '/' || s[1] == '#') && s[2] == '}')
        return 3;
    return 0;
}

int cli_template_init(cli_template_t *t, char *const *words, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(words[i]) + 1;
    t->line = malloc(len);
    if (!t->line)
        return -1;
    t->line[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(t->line, " ");
        strcat(t->line, words[i]);
    }
    t->shell = false;
    t->has_input = false;
    for (const char *s = t->line; *s;) {
        size_t r = repl_len(s);
        if (r) {
            t->has_input |= s[1] != '#';
            s += r;
            continue;
        }
        t->shell |= strchr(METACHARS, *s) != NULL;
        s++;
    }
    t->shell |= is_shell_word(t->line);
    return 0;
}

void cli_template_destroy(cli_template_t *t)
{
    free(t->line);
    t->line = NULL;
}

/* A growing string. */
typedef struct sbuf {
    char *data;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void put(sbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* s shell-quoted: 'it'\''s' */
static void put_quoted(sbuf_t *b, const char *s, size_t n)
{
    put(b, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            put(b, "'\\''", 4);
        else
            put(b, s + i, 1);
    }
    put(b, "'", 1);
}

/* The text a replacement string stands for, into *out and *n. */
static void expand(const char *r, size_t rlen, const char *input, uint64_t seq,
                   char *num, const char **out, size_t *n)
{
    const char *slash = strrchr(input, '/');
    const char *base = slash ? slash + 1 : input;
    *out = input;
    *n = strlen(input);
    if (rlen == 2)
        return;
    if (r[1] == '/') {
        *out = base;
        *n = strlen(base);
    } else if (r[1] == '.') {
        const char *dot = strrchr(base, '.');
        if (dot)
            *n = (size_t)(dot - input);
    } else {
        snprintf(num, 24, "%" PRIu64, seq);
        *out = num;
        *n = strlen(num);
    }
}

/* The template with each replacement made; quote: shell-quoted. */
static void fill(sbuf_t *b, const cli_template_t *t, const char *input,
                 uint64_t seq, bool quote)
{
    char num[24];
    for (const char *s = t->line; *s;) {
        size_t r = repl_len(s);
        if (!r) {
            put(b, s++, 1);
            continue;
        }
        const char *text;
        size_t n;
        expand(s, r, input, seq, num, &text, &n);
        if (quote && s[1] != '#')
            put_quoted(b, text, n);
        else
            put(b, text, n);
        s += r;
    }
    if (!t->has_input) {
        put(b, " ", 1);
        if (quote)
            put_quoted(b, input, strlen(input));
        else
            put(b, input, strlen(input));
    }
}

/* Splits the template at spaces, each word filled on its own, so that an
 * input holding spaces stays one argument. */
static int split(cli_command_t *c, const cli_template_t *t, const char *input,
                 uint64_t seq)
{
    size_t words = 3; /* the last word, an appended input, NULL */
    for (const char *s = t->line; *s; s++)
        words += *s == ' ';
    c->argv = calloc(words, sizeof *c->argv);
    if (!c->argv)
        return -1;
    /* Each word filled as a one-word template, joined by NULs in b. */
    sbuf_t b = {0};
    size_t *starts = calloc(words, sizeof *starts);
    size_t nwords = 0;
    if (!starts)
        return -1;
    cli_template_t word = {.shell = false, .has_input = true};
    char *copy = strdup(t->line);
    if (!copy) {
        free(starts);
        return -1;
    }
    for (char *save, *w = strtok_r(copy, " ", &save); w;
         w = strtok_r(NULL, " ", &save)) {
        starts[nwords++] = b.len;
        word.line = w;
        fill(&b, &word, input, seq, false);
        put(&b, "", 1); /* the word's NUL, kept in b */
    }
    if (!t->has_input) {
        starts[nwords++] = b.len;
        put(&b, input, strlen(input));
        put(&b, "", 1);
    }
    free(copy);
    if (b.failed || !b.data) {
        free(starts);
        free(b.data);
        return -1;
    }
    for (size_t i = 0; i < nwords; i++)
        c->argv[i] = b.data + starts[i];
    free(starts);
    c->wordbuf = b.data;
    return 0;
}

int cli_command_make(cli_command_t *c, const cli_template_t *t,
                     const char *input, uint64_t seq)
{
    memset(c, 0, sizeof *c);
    sbuf_t b = {0};
    fill(&b, t, input, seq, true);
    if (b.failed || !b.data) {
        free(b.data);
        errno = ENOMEM;
        return -1;
    }
    c->shell = b.data;
    if (!t->shell && split(c, t, input, seq) < 0) {
        cli_command_free(c);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void cli_command_free(cli_command_t *c)
{
    free(c->shell);
    free(c->argv);
    free(c->wordbuf);
    memset(c, 0, sizeof *c);
}
