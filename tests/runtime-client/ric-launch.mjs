// Starts AWS's own runtime client (aws-lambda-ric, directory in LBOX_RIC_DIR) the way the
// managed runtime's index.mjs does: run(task root, _HANDLER) with top-level await.
const { run } = await import(`${process.env.LBOX_RIC_DIR}/dist/index.mjs`);
await run(process.env.LAMBDA_TASK_ROOT, process.env._HANDLER);
