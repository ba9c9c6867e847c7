// The smallest function: echoes who it greets and where it runs.
exports.handler = async (event, context) => {
  const name = (event && event.name) || 'world';
  return {
    message: `hello, ${name}`,
    runtime: process.env.AWS_EXECUTION_ENV,
    node: process.version,
    requestId: context.awsRequestId,
  };
};
