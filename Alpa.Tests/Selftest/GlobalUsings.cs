// The float64 reference evaluator ships with the `alpa selftest` library (Alpa.Silo/Selftest/Reference).
global using Alpa.Silo.Selftest.Reference;
