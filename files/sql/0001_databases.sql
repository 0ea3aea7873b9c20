-- Databases of the tick-data platform.
-- ${db_data}: raw exchange data as received; ${db_analytics}: derived aggregates.
CREATE DATABASE IF NOT EXISTS ${db_data} ${on_cluster};

CREATE DATABASE IF NOT EXISTS ${db_analytics} ${on_cluster};
