DROP TABLE table_rows;
