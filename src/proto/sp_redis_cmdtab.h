/*
 * sp_redis_cmdtab.h — what the generated command table defines
 * (sp_redis_cmdtab.c, by tools/gen_redis_commands.py): read through the
 * functions of sp_redis.h; only the table's own code (sp_redis_cmd.c) and
 * the COMMAND replies (sp_redis_command.c) include this.
 */
#ifndef SP_REDIS_CMDTAB_H
#define SP_REDIS_CMDTAB_H

#include <stddef.h>
#include <stdint.h>

#include "sp_redis.h"

extern const char sp_redis_cmdtab_version[];

/* The RESP3 bytes rows point into (info_off, docs_off). */
extern const char sp_redis_cmdtab_text[];
extern const size_t sp_redis_cmdtab_text_len;

extern const struct sp_redis_keyspec sp_redis_keyspecs[];

/* Top-level rows, sorted by name. */
extern const struct sp_redis_command sp_redis_cmdtab[];
extern const size_t sp_redis_cmdtab_len;
extern const uint16_t sp_redis_cmdtab_letter[27];  /* rows by first letter */

/* Every row, subcommands included, by id. */
extern const struct sp_redis_command *const sp_redis_cmdtab_by_id[];
extern const size_t sp_redis_cmdtab_ids;

#endif /* SP_REDIS_CMDTAB_H */
