// Builds one kernel table under a chosen name (TABLE_NAME) from whichever tree -I points at.
#define CNNNATIVE_TABLE TABLE_NAME
#include "act/elementwise_body.inl"
