// Loads one bundle and reports, on stdout, when the import started and when it finished, in ms since the process
// started (`performance.now()`), and the CPU time (user + system, all threads) the import took. A handler that
// builds its layers at load is ready once its import has finished.
const start = performance.now();
const cpu = process.cpuUsage();
await import(process.argv[2]);
const ready = performance.now();
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ start, ready, cpu: (used.user + used.system) / 1000 }));
process.exit(0);
