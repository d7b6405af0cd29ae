"""Ground floor: config, extensions, base models, policy, audit, time, i18n, API."""
