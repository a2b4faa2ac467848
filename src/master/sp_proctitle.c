/*
 * sp_proctitle.c — process titles over the argv/environ area (see
 * sp_proctitle.h).
 */
#include "sp_proctitle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

void
sp_proctitle_init(struct sp_proctitle *title, int argc, char **argv)
{
    char *start, *end = NULL;
    size_t joined = 0;

    memset(title, 0, sizeof(*title));
    if (argc <= 0 || argv[0] == NULL) {
        return;
    }
    /* the contiguous run: argv strings, then environ strings */
    start = argv[0];
    for (int i = 0; i < argc; i++) {
        if (end == NULL || argv[i] == end) {
            end = argv[i] + strlen(argv[i]) + 1;
        }
        joined += strlen(argv[i]) + 1;
    }
    for (int i = 0; environ[i] != NULL; i++) {
        if (environ[i] == end) {
            end = environ[i] + strlen(environ[i]) + 1;
        }
    }
    title->cmdline = malloc(joined + 1);
    if (title->cmdline == NULL) {
        return;
    }
    title->cmdline[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (i > 0) {
            strcat(title->cmdline, " ");
        }
        strcat(title->cmdline, argv[i]);
    }
    /* move the strings out of the area before it is written over */
    for (int i = 0; environ[i] != NULL; i++) {
        char *copy = strdup(environ[i]);
        if (copy == NULL) {
            return;
        }
        environ[i] = copy;
    }
    for (int i = 0; i < argc; i++) {
        char *copy = strdup(argv[i]);
        if (copy == NULL) {
            return;
        }
        argv[i] = copy;
    }
    title->argv = argv;
    title->area = start;
    title->size = (size_t)(end - start);
}

void
sp_proctitle_set(const struct sp_proctitle *title, const char *text)
{
    if (title->area == NULL || title->size < 2) {
        return;
    }
    int n = snprintf(title->area, title->size, "shardproxy: %s", text);
    if (n >= 0 && (size_t)n + 1 < title->size) {
        memset(title->area + n + 1, '\0', title->size - (size_t)n - 1);
    }
}

void
sp_proctitle_free(struct sp_proctitle *title)
{
    free(title->cmdline);
    title->cmdline = NULL;
}
