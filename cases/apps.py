from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Clinical cases"

    def ready(self) -> None:
        from cases.audit import auth_signals

        auth_signals.connect()
