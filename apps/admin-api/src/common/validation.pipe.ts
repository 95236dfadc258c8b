import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { ControlError, ControlErrorCode } from '@ferry/control';

/**
 * Strict DTO validation: unknown fields are refused (not silently dropped), values are not
 * coerced from other types (a string "10" is not a size), and every failure is reported per
 * field in the problem's `errors`.
 */
export function adminValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors: ValidationError[]) => {
      const fields: Record<string, string[]> = {};
      collect(errors, '', fields);
      const summary = Object.entries(fields)
        .map(([field, messages]) => `${field}: ${messages.join(', ')}`)
        .join('; ');
      return new ControlError(ControlErrorCode.Invalid, summary ? `invalid request: ${summary}` : 'invalid request', fields);
    },
  });
}

function collect(errors: ValidationError[], prefix: string, out: Record<string, string[]>): void {
  for (const e of errors) {
    const path = prefix ? `${prefix}.${e.property}` : e.property || '(body)';
    if (e.constraints) out[path] = [...(out[path] ?? []), ...Object.values(e.constraints)];
    if (e.children?.length) collect(e.children, path, out);
  }
}
