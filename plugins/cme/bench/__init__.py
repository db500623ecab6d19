"""The benchmark (`cme bench`): landing data at scale, each stage of a run measured in its
own process, and the floor (DuckDB alone turning the same CSVs into awards)."""
