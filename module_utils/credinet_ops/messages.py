"""Operator texts: Spanish by default (the operators' language), English selectable.

One catalog for the host commands (backups, offsite copies, restores, drills), the scheduled
units' failure hook and the app role (deploys, rollbacks, safe-docker), which reaches it through
the `credinet_message` filter and the `credinet_event` module. Every text receives `host` and
`env`; the other fields are named per message.
"""

CATALOG = {
    "es": {
        # backups
        "backup_completed": "Respaldo correcto en {host} ({env}): {key}, {mb:.1f} MB en {seconds:.0f} s",
        "size_warning": ". AVISO: {warning}",
        "backup_failed": "FALLÓ el respaldo en {host} ({env}): {error}",
        "backup_prune_refused": "Retención de respaldos DETENIDA en {host} ({env}), no se borró nada: {error}",
        "bookkeeping_failed": "Registro incompleto en {host} ({env}) (¿disco lleno?): {error}",
        "command_failed": "FALLÓ un comando de credinet-ops en {host} ({env}): {error}",
        "job_unit_failed": "FALLÓ el trabajo programado {unit} en {host} ({env}); últimas líneas: {error}",
        # restores and drills
        "restore_completed": "Restauración completada en {host} ({env}) desde {key}; datos previos en {previous}. {app_state}",
        "restore_failed": "FALLÓ la restauración en {host} ({env}): {error}. {app_state}",
        "restore_app_up": "La aplicación responde.",
        "restore_app_down": "ATENCIÓN: la aplicación NO responde.",
        "restore_app_untouched": "La base en uso no se tocó.",
        "restore_app_not_running": "La aplicación no estaba corriendo y no se inició.",
        "restore_drill_completed": "Simulacro de restauración correcto en {host} ({env}) con {key} ({seconds:.0f} s)",
        "restore_drill_failed": "FALLÓ el simulacro de restauración en {host} ({env}) con {key}: {error}",
        # point-in-time recovery (pgBackRest)
        "pitr_failed": "FALLÓ un trabajo de recuperación a un momento exacto (pgBackRest) en {host} ({env}): {error}",
        "pitr_backup_failed": "FALLÓ el respaldo pgBackRest en {host} ({env}): {error}",
        "pitr_check_failed": "FALLÓ la verificación de pgBackRest en {host} ({env}) (¿archivado de WAL detenido?): {error}",
        "pitr_offsite_failed": "FALLÓ la copia externa del repositorio pgBackRest en {host} ({env}): {error}",
        "pitr_restore_failed": "FALLÓ la restauración a un momento exacto en {host} ({env}): {error}",
        "pitr_restore_completed": "Restauración a un momento exacto en {host} ({env}) hasta {target}: última transacción "
                                  "recuperada {replayed}; datos previos en el volumen {previous}.",
        "pitr_drill_failed": "FALLÓ el simulacro de recuperación a un momento exacto en {host} ({env}): {error}",
        # offsite copies
        "offsite_completed": "Copia externa correcta en {host} ({env}): {copied} archivo(s) nuevos, {sets} respaldos en el remoto",
        "offsite_failed": "FALLÓ la copia externa en {host} ({env}): {error}",
        # deploys
        "deploy_started": "Despliegue iniciado en {host} ({env}): {previous} → {target}",
        "deploy_succeeded": "Despliegue correcto en {host} ({env}): {target}",
        "dr_restored": "Reconstrucción de {host} ({env}): la versión {target} corre con los datos de {key}.",
        "dr_completed": "Reconstrucción de {host} ({env}) TERMINADA en {minutes} min: versión {target}, datos de {key} "
                        "(tomado hace {age} h; cada tabla igual a su manifiesto); respaldo nuevo: {backup}.",
        "dr_failed": "FALLÓ la reconstrucción de {host} ({env}) en la fase «{phase}»: {error}",
        "deploy_stopped_backup": "Despliegue DETENIDO en {host} ({env}): falló el respaldo previo; nada cambió.",
        "deploy_first_failed": "Primer despliegue de {target} FALLÓ en {host} ({env}): {failure}",
        "deploy_rolled_back": "Despliegue de {target} FALLÓ en {host} ({env}) y se revirtió a {previous}. "
                              "Respaldo previo: {backup}. Error: {failure}",
        "deploy_rollback_failed": "Despliegue de {target} FALLÓ en {host} ({env}) y la REVERSIÓN a {previous} TAMBIÉN "
                                  "FALLÓ: la aplicación puede estar caída. Respaldo previo: {backup}. Error: {failure}",
        "deploy_manual_rollback": "Reversión manual en {host} ({env}): {previous} → {target}",
        "app_settings_changed": "Configuración de la app en {host} ({env}): cambiaron {keys}; se conservó el valor actual "
                                "de {kept} (valor vacío en el vault)",
        "safe_docker_blocked": "safe-docker: BLOQUEADO en {env}. El checkout {app_dir} está en la rama '{current}' y "
                               "aquí solo se permite '{expected}'. Vuelve a '{expected}' (git checkout {expected}) o "
                               "despliega con playbooks/deploy.yml.",
    },
    "en": {
        "backup_completed": "Backup OK on {host} ({env}): {key}, {mb:.1f} MB in {seconds:.0f} s",
        "size_warning": ". WARNING: {warning}",
        "backup_failed": "Backup FAILED on {host} ({env}): {error}",
        "backup_prune_refused": "Backup retention STOPPED on {host} ({env}), nothing deleted: {error}",
        "bookkeeping_failed": "Incomplete bookkeeping on {host} ({env}) (disk full?): {error}",
        "command_failed": "A credinet-ops command FAILED on {host} ({env}): {error}",
        "job_unit_failed": "Scheduled job {unit} FAILED on {host} ({env}); last lines: {error}",
        "restore_completed": "Restore completed on {host} ({env}) from {key}; previous data in {previous}. {app_state}",
        "restore_failed": "Restore FAILED on {host} ({env}): {error}. {app_state}",
        "restore_app_up": "The app answers.",
        "restore_app_down": "ATTENTION: the app does NOT answer.",
        "restore_app_untouched": "The live database was not touched.",
        "restore_app_not_running": "The app was not running and was not started.",
        "restore_drill_completed": "Restore drill OK on {host} ({env}) with {key} ({seconds:.0f} s)",
        "restore_drill_failed": "Restore drill FAILED on {host} ({env}) with {key}: {error}",
        "pitr_failed": "A point-in-time recovery job (pgBackRest) FAILED on {host} ({env}): {error}",
        "pitr_backup_failed": "pgBackRest backup FAILED on {host} ({env}): {error}",
        "pitr_check_failed": "pgBackRest check FAILED on {host} ({env}) (WAL archiving stopped?): {error}",
        "pitr_offsite_failed": "Offsite copy of the pgBackRest repository FAILED on {host} ({env}): {error}",
        "pitr_restore_failed": "Point-in-time restore FAILED on {host} ({env}): {error}",
        "pitr_restore_completed": "Point-in-time restore on {host} ({env}) to {target}: last transaction recovered "
                                  "{replayed}; previous data in volume {previous}.",
        "pitr_drill_failed": "Point-in-time drill FAILED on {host} ({env}): {error}",
        "offsite_completed": "Offsite copy OK on {host} ({env}): {copied} new file(s), {sets} backups on the remote",
        "offsite_failed": "Offsite copy FAILED on {host} ({env}): {error}",
        "deploy_started": "Deploy started on {host} ({env}): {previous} → {target}",
        "deploy_succeeded": "Deploy OK on {host} ({env}): {target}",
        "dr_restored": "Rebuild of {host} ({env}): release {target} runs on the data of {key}.",
        "dr_completed": "Rebuild of {host} ({env}) DONE in {minutes} min: release {target}, data of {key} "
                        "(taken {age} h before; every table equal to its manifest); new backup: {backup}.",
        "dr_failed": "Rebuild of {host} ({env}) FAILED in phase '{phase}': {error}",
        "deploy_stopped_backup": "Deploy STOPPED on {host} ({env}): the pre-deploy backup failed; nothing changed.",
        "deploy_first_failed": "First deploy of {target} FAILED on {host} ({env}): {failure}",
        "deploy_rolled_back": "Deploy of {target} FAILED on {host} ({env}) and was rolled back to {previous}. "
                              "Pre-deploy backup: {backup}. Error: {failure}",
        "deploy_rollback_failed": "Deploy of {target} FAILED on {host} ({env}) and the ROLLBACK to {previous} FAILED TOO: "
                                  "the app may be down. Pre-deploy backup: {backup}. Error: {failure}",
        "deploy_manual_rollback": "Manual rollback on {host} ({env}): {previous} → {target}",
        "app_settings_changed": "App settings on {host} ({env}): {keys} changed; the current value of {kept} was kept "
                                "(empty in the vault)",
        "safe_docker_blocked": "safe-docker: BLOCKED on {env}. The checkout {app_dir} is on branch '{current}' and "
                               "only '{expected}' is allowed here. Go back to '{expected}' (git checkout {expected}) or "
                               "deploy with playbooks/deploy.yml.",
    },
}
LANGUAGES = tuple(CATALOG)
DEFAULT_LANGUAGE = "es"


def render(lang, name, **values):
    """Message `name` in `lang` (unknown language: Spanish) with `values` filled in."""
    texts = CATALOG.get(lang, CATALOG[DEFAULT_LANGUAGE])
    try:
        template = texts[name]
    except KeyError:
        raise KeyError("no message %r in the %s catalog" % (name, lang))
    return template.format(**values)
