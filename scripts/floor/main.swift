// The least a Swift program can do for `keyadmin --get-key`: connect with libpq, send one
// parameterized query, print the value. scripts/bench.sh times it against the psql binary,
// to show how much of keyadmin's start-up is the Swift runtime's and how much is keyadmin's.
// Usage: floor CONNINFO PROVIDER NUMBER
import CLibPQFloor

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let connection = PQconnectdb(arguments[1]), PQstatus(connection) == CONNECTION_OK else {
    fputs("floor: could not connect\n", stderr)
    exit(1)
}
let values = [strdup(arguments[2]), strdup(arguments[3])]
let pointers = values.map { UnsafePointer($0) }
let result = PQexecParams(connection, "SELECT public.get_api_key($1, $2::integer)", 2, nil, pointers, nil, nil, 0)
guard PQresultStatus(result) == PGRES_TUPLES_OK else {
    fputs("floor: the query failed\n", stderr)
    exit(1)
}
print(String(cString: PQgetvalue(result, 0, 0)))
PQclear(result)
PQfinish(connection)
